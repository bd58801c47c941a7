/*
 * examples/http/http_status.c - the /status body.  Reading the metrics
 * costs a few loads per worker and takes no lock (asyncrt/metrics.h), so
 * the handler calls it inline on the connection's worker.
 */
#include "http_status.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

/* snprintf at dst + *len; false once it no longer fits. */
static bool add(char *dst, size_t cap, size_t *len, const char *fmt, ...)
{
    if (*len >= cap)
        return false;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(dst + *len, cap - *len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= cap - *len) {
        *len = cap;
        return false;
    }
    *len += (size_t)n;
    return true;
}

ssize_t http_status_json(const ar_rt *rt, char *dst, size_t cap)
{
    ar_rt_metrics m;
    int rc = ar_rt_metrics_read(rt, &m);
    if (rc < 0)
        return rc;
    size_t len = 0;
    add(dst, cap, &len,
        "{\"workers\":%" PRIu32 ",\"tasks_spawned\":%" PRIu64 ",\"tasks_alive\":%" PRIu64
        ",\"remote_spawned\":%" PRIu64 ",\"polls\":%" PRIu64 ",\"steals\":%" PRIu64
        ",\"parks\":%" PRIu64 ",\"io_submitted\":%" PRIu64 ",\"io_completed\":%" PRIu64
        ",\"queue_depth\":%" PRIu32 ",\"injection_depth\":%" PRIu32 ",\"per_worker\":[",
        m.workers, m.tasks_spawned, m.tasks_alive, m.remote_spawned, m.polls, m.steals, m.parks,
        m.io_submitted, m.io_completed, m.queue_depth, m.injection_depth);
    /* The current-thread flavour reports 0 workers and has one, index 0. */
    uint32_t n = m.workers ? m.workers : 1;
    for (uint32_t i = 0; i < n; i++) {
        ar_worker_metrics w;
        if (ar_rt_worker_metrics_read(rt, i, &w) < 0)
            break;
        add(dst, cap, &len,
            "%s{\"polls\":%" PRIu64 ",\"spawned\":%" PRIu64 ",\"completed\":%" PRIu64
            ",\"steals\":%" PRIu64 ",\"parks\":%" PRIu64 ",\"io_submitted\":%" PRIu64
            ",\"io_completed\":%" PRIu64 ",\"queue_depth\":%" PRIu32 "}",
            i ? "," : "", w.polls, w.spawned, w.completed, w.steals, w.parks, w.io_submitted,
            w.io_completed, w.queue_depth);
    }
    if (!add(dst, cap, &len, "]}\n"))
        return -ENOSPC;
    return (ssize_t)len;
}
