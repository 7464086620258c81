/*
 * The flatness rule for RSS.
 *
 * The first 20 % of the run is warm-up: pools, spare threads, malloc arenas
 * and the blocking pool grow to their working size there. What follows is
 * cut in thirds, and the peak of the last third may exceed the peak of the
 * first by at most max(10 %, 4 MiB). Peaks, not means: every round is
 * bounded and drawn from the same distribution, so each third, holding
 * thousands of rounds, reaches the same peak unless something accumulates;
 * a peak is also insensitive to when in a sampling interval a transient
 * (a large fan-out, a burst of jobs) happened. The 4 MiB floor absorbs what
 * glibc may still add late on a shared VM: one more arena's heap touched by
 * a thread that hit contention for the first time, a thread stack; the
 * 10 % covers a trim threshold moving with a larger working set.
 *
 * What it cannot see: a leak slower than the allowance spread over the
 * middle-to-last stretch, i.e. below about allowed / (0.53 * run length)
 * (printed). The slope is reported, never judged: it is noisy on a shared VM.
 */
#include "config.h"

#include "soak/soak.h"

#define WARMUP 0.20
#define FLOOR_KIB (4 * 1024)

void soak_verdict_rss(const struct soak_sample *s, size_t n, struct soak_verdict *v)
{
    *v = (struct soak_verdict){.rss_ok = true};
    if (n == 0)
        return;
    double end = s[n - 1].t;
    size_t w = 0;
    while (w < n && s[w].t < WARMUP * end)
        w++;
    size_t m = n - w;
    if (m < 6)
        return; /* too short to judge */
    size_t third = m / 3;
    for (size_t i = w; i < w + third; i++)
        if (s[i].rss_kib > v->first_max)
            v->first_max = s[i].rss_kib;
    for (size_t i = n - third; i < n; i++)
        if (s[i].rss_kib > v->last_max)
            v->last_max = s[i].rss_kib;
    v->allowed = v->first_max / 10 > FLOOR_KIB ? v->first_max / 10 : FLOOR_KIB;
    v->judged = true;
    v->rss_ok = v->last_max <= v->first_max + v->allowed;

    double st = 0, sr = 0, stt = 0, str = 0;
    for (size_t i = w; i < n; i++) {
        double t = s[i].t, r = (double)s[i].rss_kib;
        st += t;
        sr += r;
        stt += t * t;
        str += t * r;
    }
    double den = (double)m * stt - st * st;
    v->slope_kib_per_min = den > 0 ? ((double)m * str - st * sr) / den * 60.0 : 0;
}
