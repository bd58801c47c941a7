/*
 * runtime/metrics.c - reading the runtime's counters (asyncrt/metrics.h).
 * The counters live in the workers (rt.h: ar__wmetrics, owner-written,
 * relaxed) and in the runtime (ext_*: atomic adds off the workers).
 */
#include <errno.h>
#include <string.h>

#include "asyncrt/metrics.h"
#include "rt.h"

static inline uint64_t rd(const _Atomic uint64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

static uint32_t queue_depth(ar_worker *w)
{
    uint32_t n = ar__queue_len(&w->queue);
    /* head and tail are read one after the other: a snapshot taken while
     * the owner pops and pushes can overshoot; a queue never holds more. */
    return n > AR__QUEUE_CAP ? AR__QUEUE_CAP : n;
}

int ar_rt_worker_metrics_read(const ar_rt *rt, uint32_t i, ar_worker_metrics *m)
{
    if (!rt || !m || i >= rt->nworkers)
        return -EINVAL;
    ar_worker *w = &rt->workers[i];
    m->polls = rd(&w->m.polls);
    m->spawned = rd(&w->m.spawned);
    m->completed = rd(&w->m.completed);
    m->steals = rd(&w->m.steals);
    m->parks = rd(&w->m.parks);
    /* The reactor is set before the worker starts and freed only with the
     * runtime (rt.h), so reading its counters here is safe. */
    const ar__reactor_hdr *h = (const ar__reactor_hdr *)(const void *)w->reactor;
    m->io_submitted = h ? rd(&h->io_submitted) : 0;
    m->io_completed = h ? rd(&h->io_completed) : 0;
    m->queue_depth = queue_depth(w);
    return 0;
}

int ar_rt_metrics_read(const ar_rt *rt, ar_rt_metrics *m)
{
    if (!rt || !m)
        return -EINVAL;
    memset(m, 0, sizeof *m);
    m->workers = rt->nthreads;
    uint64_t completed = rd(&rt->ext_completed);
    /* Completions first, spawns after: a task counted complete was spawned
     * before, so alive rarely dips below the truth; relaxed counters give
     * no guarantee, hence the clamp at zero below. */
    for (uint32_t i = 0; i < rt->nworkers; i++)
        completed += rd(&rt->workers[i].m.completed);
    m->remote_spawned = rd(&rt->ext_spawned);
    m->tasks_spawned = m->remote_spawned;
    for (uint32_t i = 0; i < rt->nworkers; i++) {
        ar_worker_metrics w;
        ar_rt_worker_metrics_read(rt, i, &w);
        m->tasks_spawned += w.spawned;
        m->polls += w.polls;
        m->steals += w.steals;
        m->parks += w.parks;
        m->io_submitted += w.io_submitted;
        m->io_completed += w.io_completed;
        m->queue_depth += w.queue_depth;
    }
    m->tasks_alive = m->tasks_spawned > completed ? m->tasks_spawned - completed : 0;
    /* The injection queue's length is an atomic too; its reader only wants a
     * non-const pointer. */
    m->injection_depth = ar__inject_len((ar__inject *)(uintptr_t)&rt->inject);
    return 0;
}
