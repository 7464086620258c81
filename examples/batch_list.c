/*
 * batch_list: the file list of the batch examples (see batch_core.h): the
 * walk that makes it, in one blocking job, so that directory I/O never runs
 * on a CPU worker; its packing for batch-mpi's broadcast; a rank's share.
 */
#define _POSIX_C_SOURCE 200809L

#include "batch_core.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <weft/weft.h>

/* ---- the list ----------------------------------------------------------------- */

/* Appends a file; takes `path` (freed here on failure). */
static int list_add(struct batch_list *l, char *path, uint64_t size, int walk_err)
{
    if (path == NULL)
        return ENOMEM;
    if (l->n == l->cap) {
        size_t cap = l->cap != 0 ? 2 * l->cap : 64;
        struct batch_file *v = realloc(l->v, cap * sizeof *v);
        if (v == NULL) {
            free(path);
            return ENOMEM;
        }
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = (struct batch_file){.path = path, .size = size, .walk_err = walk_err,
                                       .status = BATCH_NOT_RUN};
    return 0;
}

void batch_list_free(struct batch_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].path);
    free(l->v);
    *l = (struct batch_list){0};
}

static int by_path(const void *a, const void *b)
{
    return strcmp(((const struct batch_file *)a)->path, ((const struct batch_file *)b)->path);
}

/* "a" + "/" + "b", or a copy of b when a is "" */
char *batch_join_path(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *p = malloc(la + lb + 2);
    if (p == NULL)
        return NULL;
    if (la != 0) {
        memcpy(p, a, la);
        p[la++] = '/';
    }
    memcpy(p + la, b, lb + 1);
    return p;
}

char *batch_list_pack(const struct batch_list *l, size_t *len)
{
    size_t n = 0;
    for (size_t i = 0; i < l->n; i++)
        n += strlen(l->v[i].path) + 48; /* two numbers, two spaces, a NUL */
    char *buf = malloc(n + 1);
    if (buf == NULL)
        return NULL;
    size_t at = 0;
    for (size_t i = 0; i < l->n; i++) {
        const struct batch_file *f = &l->v[i];
        at += (size_t)snprintf(buf + at, n + 1 - at, "%" PRIu64 " %d %s", f->size, f->walk_err,
                               f->path);
        buf[at++] = '\0';
    }
    *len = at;
    return buf;
}

int batch_list_unpack(const char *buf, size_t len, struct batch_list *out)
{
    *out = (struct batch_list){0};
    size_t at = 0;
    while (at < len) {
        const char *rec = buf + at;
        const char *nul = memchr(rec, '\0', len - at);
        if (nul == NULL)
            goto bad;
        char *end;
        errno = 0;
        unsigned long long size = strtoull(rec, &end, 10);
        if (errno != 0 || *end != ' ')
            goto bad;
        long err = strtol(end + 1, &end, 10);
        if (*end != ' ' || err < 0 || err > 4095 || end + 1 >= nul)
            goto bad;
        int rc = list_add(out, strdup(end + 1), size, (int)err);
        if (rc != 0) {
            batch_list_free(out);
            return rc;
        }
        at = (size_t)(nul - buf) + 1;
    }
    return 0;
bad:
    batch_list_free(out);
    return EINVAL;
}

void batch_share(struct batch_list *l, int rank, int nranks)
{
    uint64_t *load = calloc((size_t)nranks, sizeof *load);
    size_t kept = 0;
    for (size_t i = 0; i < l->n; i++) {
        int to = (int)(i % (size_t)nranks); /* no memory: plain round robin */
        if (load != NULL) {
            to = 0;
            for (int r = 1; r < nranks; r++)
                if (load[r] < load[to])
                    to = r;
            load[to] += l->v[i].size + 1; /* +1: an empty file is work too */
        }
        if (to == rank)
            l->v[kept++] = l->v[i];
        else
            free(l->v[i].path);
    }
    l->n = kept;
    free(load);
}

/* ---- the walk: one blocking job ------------------------------------------------ */

struct walk {
    const char *top;
    struct batch_list *list;
};

/* Lists directory `rel` (below w->top) into the list, recursively. Returns
 * 0, ECANCELED, ENOMEM, or, for the top directory only, why it cannot be
 * listed; a subdirectory that cannot be listed becomes an entry that fails. */
static int walk_dir(weft_task *self, struct walk *w, int dfd, const char *rel)
{
    DIR *d = fdopendir(dfd);
    if (d == NULL) {
        int e = errno;
        close(dfd);
        return rel[0] == '\0' ? e : list_add(w->list, strdup(rel), 0, e);
    }
    int rc = 0;
    struct dirent *de;
    while (rc == 0 && (errno = 0, de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (weft_cancelled(self)) {
            rc = ECANCELED;
            break;
        }
        struct stat st;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
            continue; /* gone since readdir */
        if (S_ISREG(st.st_mode)) {
            rc = list_add(w->list, batch_join_path(rel, de->d_name), (uint64_t)st.st_size, 0);
        } else if (S_ISDIR(st.st_mode)) {
            char *sub = batch_join_path(rel, de->d_name);
            if (sub == NULL) {
                rc = ENOMEM;
                break;
            }
            int fd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (fd < 0)
                rc = list_add(w->list, sub, 0, errno);
            else {
                rc = walk_dir(self, w, fd, sub);
                free(sub);
            }
        } /* symlinks, devices, fifos, sockets: not ours to read */
    }
    if (rc == 0 && de == NULL && errno != 0)
        rc = rel[0] == '\0' ? errno : list_add(w->list, strdup(rel), 0, errno);
    closedir(d);
    return rc;
}

static int walk_job(weft_task *self, void *arg)
{
    struct walk *w = arg;
    int fd = open(w->top, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return weft_fail(self, errno, "cannot open directory '%s'", w->top);
    int rc = walk_dir(self, w, fd, "");
    if (rc != 0)
        return weft_fail(self, rc, "cannot list '%s'", w->top);
    if (w->list->n > 1)
        qsort(w->list->v, w->list->n, sizeof w->list->v[0], by_path);
    return 0;
}

static int walk_root(weft_task *self, void *arg)
{
    weft_job *job;
    weft_spawn_opts o = {.name = "walk"};
    int rc = weft_spawn_blocking(self, walk_job, arg, &o, &job);
    if (rc != 0)
        return rc;
    rc = weft_job_wait(job, WEFT_NEVER);
    weft_job_release(job);
    return rc;
}

int batch_walk(weft_runtime *rt, const struct batch_opts *o, struct batch_list *out)
{
    *out = (struct batch_list){0};
    struct walk w = {.top = o->dir, .list = out};
    weft_errors *errs = NULL;
    int rc = weft_run(rt, walk_root, &w, &errs);
    if (rc != 0) {
        /* the job's record (its message) is the cause of the root's failure */
        const weft_error *e = weft_errors_at(errs, 0);
        const weft_errors *cause = e != NULL ? weft_error_cause(e) : NULL;
        const weft_error *why = cause != NULL ? weft_errors_at(cause, 0) : e;
        fprintf(stderr, "batch: %s: %s\n", why != NULL ? weft_error_message(why) : o->dir,
                strerror(rc));
        weft_errors_free(errs);
        batch_list_free(out);
    }
    return rc;
}

