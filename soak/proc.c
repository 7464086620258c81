/*
 * What the kernel says about this process: resident memory from
 * /proc/self/statm, threads as entries of /proc/self/task, open fds as
 * entries of /proc/self/fd (less the one the count itself holds open).
 */
#include "config.h"

#include <dirent.h>
#include <stdio.h>
#include <unistd.h>

#include "soak/soak.h"

uint64_t soak_rss_kib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    if (f == NULL)
        return 0;
    unsigned long long size, resident;
    int got = fscanf(f, "%llu %llu", &size, &resident);
    fclose(f);
    if (got != 2)
        return 0;
    return resident * (uint64_t)sysconf(_SC_PAGESIZE) / 1024;
}

/* Entries of a directory, "." and ".." excluded; -1 when unreadable. */
static long entries(const char *path)
{
    DIR *d = opendir(path);
    if (d == NULL)
        return -1;
    long n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

unsigned soak_threads(void)
{
    long n = entries("/proc/self/task");
    return n < 0 ? 0 : (unsigned)n;
}

unsigned soak_fds(void)
{
    long n = entries("/proc/self/fd");
    return n <= 0 ? 0 : (unsigned)(n - 1); /* the DIR's own fd */
}
