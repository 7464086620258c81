/* The table printed while the soak runs, and the optional CSV of every sample. */
#include "config.h"

#include <stdio.h>

#include "soak/soak.h"

void soak_report_header(FILE *out)
{
    fprintf(out, "%8s %9s %10s %10s %8s %9s %7s %4s\n", "elapsed", "rounds/s", "tasks/s",
            "weft_t/s", "jobs/s", "rss_MiB", "threads", "fds");
}

void soak_report_row(FILE *out, const struct soak_sample *prev, const struct soak_sample *cur)
{
    double dt = cur->t - prev->t;
    if (dt <= 0)
        dt = 1e-9;
    fprintf(out, "%7.0fs %9.1f %10.0f %10.0f %8.0f %9.1f %7u %4u\n", cur->t,
            (double)(cur->rounds - prev->rounds) / dt,
            (double)(cur->my_tasks - prev->my_tasks) / dt,
            (double)(cur->weft_tasks - prev->weft_tasks) / dt, (double)(cur->jobs - prev->jobs) / dt,
            (double)cur->rss_kib / 1024.0, cur->threads, cur->fds);
    fflush(out);
}

int soak_report_csv(const char *path, const struct soak_sample *s, size_t n)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return -1;
    fprintf(f, "t_s,rounds,tasks_ran,weft_tasks_run,blocking_done,rss_kib,threads,fds\n");
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%.3f,%llu,%llu,%llu,%llu,%llu,%u,%u\n", s[i].t,
                (unsigned long long)s[i].rounds, (unsigned long long)s[i].my_tasks,
                (unsigned long long)s[i].weft_tasks, (unsigned long long)s[i].jobs,
                (unsigned long long)s[i].rss_kib, s[i].threads, s[i].fds);
    return fclose(f) == 0 ? 0 : -1;
}
