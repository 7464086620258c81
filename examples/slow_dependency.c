/*
 * slow-dependency: calling a slow, blocking dependency from weft tasks, as
 * asyncio's `await wait_for(to_thread(f), t)` does, with nothing leaked.
 *
 * The dependency is simulated by a pipe: a blocking job read()s its reply,
 * which comes late, or never, or malformed. Shown, in order:
 *   1. a wait with a deadline gives up (ETIMEDOUT) while the job keeps
 *      running; the reply arrives later and a second wait gets the result;
 *   2. a job whose spawn deadline passes while it blocks: its cancel
 *      callback (weft_on_cancel) hangs up the pipe so read() returns, and
 *      the job returns ECANCELED, which its waiter sees as ETIMEDOUT;
 *   3. a job released before it ended: its cleanup still runs, and its
 *      failure, which nobody can wait for any more, goes to on_unhandled;
 *   4. weft_runtime_destroy returns 0: every job ended, nothing abandoned.
 *
 * Uses only <weft/weft.h> and POSIX. Built by `make`, run by `make check`:
 *   ./examples/slow-dependency
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <weft/weft.h>

/*
 * One call to the dependency. The job owns both ends of the reply pipe;
 * the dependency writes through a dup of the write end (`reply_fd`).
 *
 * Why the cancel callback closes the WRITE end: on Linux, closing a pipe's
 * read end does not wake a thread blocked in read() on it, but once the
 * last write end is closed the read returns 0 (EOF). So a job that may have
 * to give up keeps a write end of its own to close, and a dependency that
 * still holds one (reply_fd) keeps the read blocked until it answers or
 * closes it.
 */
struct call {
    const char *name;
    int rfd;
    atomic_int wfd; /* closed once: by the cancel callback (another thread), else the cleanup */
    int reply_fd;   /* the dependency's end, -1 when it will never answer */
    weft_cancel_cb cb;
    char reply[64];
};

static int failures;
static atomic_int unhandled; /* failures on_unhandled received */

static void close_write_end(struct call *c)
{
    int fd = atomic_exchange(&c->wfd, -1);
    if (fd >= 0)
        close(fd);
}

/* Cancel callback: runs on whichever thread cancels (here the timer's). */
static void hang_up(void *arg)
{
    close_write_end(arg);
}

/* The blocking job: waits for the reply, as a client library would. */
static int await_reply(weft_task *self, void *arg)
{
    struct call *c = arg;
    weft_on_cancel(self, &c->cb, hang_up, c); /* at once if already cancelled */
    ssize_t n;
    while ((n = read(c->rfd, c->reply, sizeof c->reply - 1)) < 0 && errno == EINTR) {
    }
    /* after remove the callback is not running and never starts: c is ours */
    weft_on_cancel_remove(&c->cb);
    if (weft_cancelled(self))
        return ECANCELED;
    if (n <= 0)
        return weft_fail(self, EPIPE, "%s: no reply", c->name);
    c->reply[n] = '\0';
    if (strncmp(c->reply, "OK ", 3) != 0)
        return weft_fail(self, EPROTO, "%s: malformed reply \"%s\"", c->name, c->reply);
    return 0;
}

/* spawn_opts.cleanup: runs once after the job's function, whatever happened,
 * even when no handle is left: the place to free what the job owned. */
static void call_cleanup(void *arg)
{
    struct call *c = arg;
    close_write_end(c);
    close(c->rfd);
    printf("  cleanup of \"%s\": pipe closed\n", c->name);
}

static int call_open(struct call *c, const char *name, bool answers)
{
    int fds[2];
    if (pipe(fds) != 0)
        return errno;
    c->name = name;
    c->rfd = fds[0];
    atomic_init(&c->wfd, fds[1]);
    c->reply_fd = answers ? dup(fds[1]) : -1;
    if (answers && c->reply_fd < 0) {
        int e = errno;
        close(fds[0]);
        close(fds[1]);
        return e;
    }
    return 0;
}

/* The dependency answers (late): then it hangs up its own end. */
static void answer(struct call *c, const char *text)
{
    if (write(c->reply_fd, text, strlen(text)) < 0)
        perror("write");
    close(c->reply_fd);
}

static const char *code(int rc)
{
    switch (rc) {
    case 0:
        return "0";
    case ETIMEDOUT:
        return "ETIMEDOUT";
    case ECANCELED:
        return "ECANCELED";
    default:
        return strerror(rc);
    }
}

static void expect(const char *what, int got, int want)
{
    printf("  %s: %s\n", what, code(got));
    if (got != want) {
        printf("  UNEXPECTED: wanted %s\n", code(want));
        failures++;
    }
}

static void on_unhandled(const weft_error *err, void *arg)
{
    (void)arg;
    printf("  on_unhandled: task \"%s\": %s\n", weft_error_task(err), weft_error_message(err));
    atomic_fetch_add(&unhandled, 1);
}

static struct call late, silent, garbled; /* outlive the jobs that use them */

static int demo(weft_task *self, void *arg)
{
    (void)arg;
    weft_job *job;
    int rc;

    /* 1. wait_for(to_thread(f), 20 ms): the wait times out, f does not stop */
    puts("1. a reply that comes late");
    weft_spawn_opts ol = {.name = "late", .cleanup = call_cleanup};
    if ((rc = call_open(&late, "late", true)) != 0 ||
        (rc = weft_spawn_blocking(self, await_reply, &late, &ol, &job)) != 0)
        return rc;
    expect("wait 20 ms", weft_job_wait(job, weft_after(20 * WEFT_MSEC)), ETIMEDOUT);
    printf("  the job still runs: done=%d\n", weft_job_done(job));
    failures += weft_job_done(job);
    answer(&late, "OK 42");
    expect("the reply came, wait again", weft_job_wait(job, weft_after(WEFT_SEC)), 0);
    printf("  reply: \"%s\"\n", late.reply);
    weft_job_release(job);

    /* 2. a deadline on the job itself: when it passes the job is cancelled
     * with ETIMEDOUT, hang_up gives its read() EOF, and its ECANCELED
     * counts as ETIMEDOUT (no failure: it was told to stop). A cancelled
     * group, or weft_job_cancel, reaches the job the same way */
    puts("2. a job with a 30 ms deadline, and no reply ever");
    weft_spawn_opts os = {.name = "silent", .deadline = weft_after(30 * WEFT_MSEC),
                          .cleanup = call_cleanup};
    if ((rc = call_open(&silent, "silent", false)) != 0 ||
        (rc = weft_spawn_blocking(self, await_reply, &silent, &os, &job)) != 0)
        return rc;
    expect("wait up to 1 s", weft_job_wait(job, weft_after(WEFT_SEC)), ETIMEDOUT);
    weft_job_release(job);

    /* 3. fire and forget: give up after 10 ms and drop the handle; the job
     * lives on, and when the reply turns out malformed nobody is waiting:
     * the failure goes to on_unhandled instead of vanishing */
    puts("3. a job released before it ended");
    weft_spawn_opts og = {.name = "garbled", .cleanup = call_cleanup};
    if ((rc = call_open(&garbled, "garbled", true)) != 0 ||
        (rc = weft_spawn_blocking(self, await_reply, &garbled, &og, &job)) != 0)
        return rc;
    expect("wait 10 ms, then release", weft_job_wait(job, weft_after(10 * WEFT_MSEC)),
           ETIMEDOUT);
    weft_job_release(job);
    answer(&garbled, "?!");
    /* on_unhandled runs after the cleanup, as the job's very last act */
    weft_time give_up = weft_after(WEFT_SEC);
    while (atomic_load(&unhandled) == 0 && weft_now() < give_up)
        weft_sleep(self, weft_after(WEFT_MSEC));
    return 0;
}

int main(void)
{
    weft_config cfg = WEFT_CONFIG_INIT;
    cfg.workers = 2;
    cfg.shutdown_timeout = 2 * WEFT_SEC;
    cfg.on_unhandled = on_unhandled;
    weft_runtime *rt = weft_runtime_create(&cfg);
    if (rt == NULL) {
        perror("weft_runtime_create");
        return 1;
    }
    int rc = weft_run(rt, demo, NULL, NULL);
    if (rc != 0) {
        printf("UNEXPECTED: weft_run returned %s\n", code(rc));
        failures++;
    }
    if (atomic_load(&unhandled) != 1) {
        printf("UNEXPECTED: %d unhandled failures, wanted 1\n", atomic_load(&unhandled));
        failures++;
    }
    /* 0: every job ended, none had to be abandoned */
    puts("4. the end");
    expect("weft_runtime_destroy", weft_runtime_destroy(rt), 0);
    return failures == 0 ? 0 : 1;
}
