/*
 * runtime/graceful.c - ar_rt_shutdown_timeout: wait for the tasks to end by
 * themselves, bounded, then shut down (asyncrt/runtime.h).
 *
 * "Ended" is the metrics' tasks_alive reaching zero: a count of spawns
 * minus completions, kept by the workers without locked instructions
 * (rt.h).  The wait polls it every millisecond: shutdown is rare and this
 * keeps the hot paths free of any "last task ended" signalling.
 */
#include <errno.h>
#include <time.h>

#include "asyncrt/metrics.h"
#include "asyncrt/time.h"
#include "rt.h"

static ar_poll sleep_poll(void *s, ar_cx *cx) { return ar_sleep_poll(s, cx); }
static const ar_future_vt sleep_vt = AR_FUTURE_VT_VOID(ar_sleep, sleep_poll, NULL);

static uint64_t alive(const ar_rt *rt)
{
    ar_rt_metrics m;
    ar_rt_metrics_read(rt, &m);
    return m.tasks_alive;
}

int ar_rt_shutdown_timeout(ar_rt *rt, uint64_t timeout_ms)
{
    if (!rt)
        return -EINVAL;
    if (ar_rt_current() == rt)
        return -EDEADLK;
    uint64_t deadline = ar_now_ms() + timeout_ms;
    if (deadline < timeout_ms)
        deadline = UINT64_MAX;
    int rc = 0;
    while (alive(rt) > 0) {
        if (ar_now_ms() >= deadline) {
            rc = -ETIMEDOUT;
            break;
        }
        if (rt->flavor == AR_RT_CURRENT_THREAD) {
            /* Nobody else runs its tasks: drive it for a millisecond. */
            ar_sleep s;
            ar_sleep_init(&s, 1);
            if (ar_block_on(rt, &sleep_vt, &s) != 0) {
                ar_sleep_drop(&s);
                break; /* shut down meanwhile, or busy on another thread */
            }
        } else {
            struct timespec ts = {0, 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    int src = ar_rt_shutdown(rt);
    return src ? src : rc;
}
