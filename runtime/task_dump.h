/*
 * runtime/task_dump.h - the worker side of ar_rt_dump_tasks
 * (asyncrt/task_dump.h).
 *
 * A worker's registry shard is its own (owned.h), so the requester cannot
 * walk it: it publishes a request and every worker answers between two
 * polls.  Protocol (requester under rt->dump_mu):
 *   1. r->gen = ++generation; store rt->dump_req = r (Release);
 *      store rt->dump_gen = r->gen (Release); unpark every worker.
 *   2. A worker sees dump_gen != w->dump_seen (relaxed, every tick, in the
 *      park loop and before it stops), loads dump_req (Acquire: pairs
 *      with 1) and, if r->gen is new to it, writes its part and publishes
 *      part->done (Release).  It never touches r after that.
 *   3. The requester waits until each part is done (Acquire: pairs with 2)
 *      or its worker has stopped (w->stopped, Acquire: the worker checks
 *      for a request before it stops, so a stopped worker that did not
 *      answer never will), then clears dump_req and frees r.
 * So r outlives every access: a worker reads r only while its part is not
 * done and it has not stopped.
 */
#ifndef AR_RUNTIME_TASK_DUMP_H
#define AR_RUNTIME_TASK_DUMP_H

#include "rt.h"

void ar__dump_serve_slow(ar_worker *w);

/* Owner thread of w, between polls: answer a pending dump request.  One
 * relaxed load on the hot path; the field shares its cache line with
 * rt->shutdown, which the same loop reads. */
static inline void ar__dump_serve(ar_worker *w)
{
    if (__builtin_expect(atomic_load_explicit(&w->rt->dump_gen, memory_order_relaxed) !=
                             w->dump_seen, 0))
        ar__dump_serve_slow(w);
}

#endif
