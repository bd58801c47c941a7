/*
 * runtime/task_dump.c - ar_rt_dump_tasks: list the live tasks of a runtime
 * (asyncrt/task_dump.h; the protocol is in task_dump.h).
 */
#include "task_dump.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "asyncrt/task_dump.h"
#include "state.h"
#include "task.h"

/* One worker's (or the plain threads') share of the listing. */
typedef struct dump_part {
    char *text; /* malloc'd by open_memstream; written before done */
    size_t len;
    uint32_t ntasks;
    int err;             /* 0 or -ENOMEM */
    _Atomic bool done;   /* Release by the writer, Acquire by the requester */
} dump_part;

struct ar__dump_req {
    uint64_t gen; /* immutable once published */
    dump_part parts[];
};

static const char *state_name(uint32_t st)
{
    if (st & AR__ST_RUNNING)
        return st & AR__ST_CANCELLED ? "running,cancelling" : "running";
    if (st & AR__ST_NOTIFIED)
        return st & AR__ST_CANCELLED ? "scheduled,cancelling" : "scheduled";
    return st & AR__ST_CANCELLED ? "idle,cancelling" : "idle";
}

/* List shard s into part.  The caller may walk s: its owner worker, or
 * anyone holding the lock of the shared shard, or the current-thread
 * runtime's `driving` flag. */
static void list_shard(ar__shard *s, dump_part *part)
{
    FILE *f = open_memstream(&part->text, &part->len);
    if (!f) {
        part->err = -ENOMEM;
        return;
    }
    for (uint32_t i = 0; i < s->len; i++) {
        ar_task *t = s->slots[i];
        /* Relaxed: a snapshot; the task itself stays alive, the registry
         * holds a reference to it. */
        uint32_t st = atomic_load_explicit(&t->state, memory_order_relaxed);
        if (st & AR__ST_COMPLETE)
            continue; /* finished on another worker, not swept yet */
        const ar__task_info *in = s->info ? &s->info[i] : NULL;
        const char *name = in && in->name ? in->name : t->vt->name;
        const char *site = in && in->site ? in->site : "?";
        fprintf(f, "  %p  %-10s  %-20s  %s\n", (void *)t, state_name(st), name ? name : "?",
                site);
        part->ntasks++;
    }
    if (fclose(f) != 0)
        part->err = -ENOMEM;
}

void ar__dump_serve_slow(ar_worker *w)
{
    ar_rt *rt = w->rt;
    /* Acquire on the generation, so that the request it announces (stored
     * before it, task_dump.h step 1) is the one we load, or a newer one. */
    uint64_t gen = atomic_load_explicit(&rt->dump_gen, memory_order_acquire);
    struct ar__dump_req *r = atomic_load_explicit(&rt->dump_req, memory_order_acquire);
    if (r && r->gen != w->dump_seen) {
        w->dump_seen = r->gen;
        dump_part *p = &r->parts[w->index];
        /* Current-thread: the requester may have listed our shard itself
         * while nobody drove the runtime (then it cleared dump_req before
         * letting a driver in, so this sees done only in theory). */
        if (!atomic_load_explicit(&p->done, memory_order_acquire)) {
            list_shard(&w->shard, p);
            atomic_store_explicit(&p->done, true, memory_order_release);
        }
    } else {
        w->dump_seen = gen;
    }
}

/* Current-thread flavour: walk worker 0's shard ourselves while nobody
 * drives the runtime (holding `driving` keeps a block_on out). */
static bool try_serve_current(ar_rt *rt, dump_part *p)
{
    bool expect = false;
    if (!atomic_compare_exchange_strong(&rt->driving, &expect, true))
        return false;
    list_shard(&rt->workers[0].shard, p);
    atomic_store_explicit(&p->done, true, memory_order_relaxed);
    /* Withdraw the request before a driver can come in: a driver must not
     * load it once we may free it. */
    atomic_store_explicit(&rt->dump_req, NULL, memory_order_release);
    atomic_store_explicit(&rt->driving, false, memory_order_release);
    return true;
}

static void nap(unsigned *us)
{
    struct timespec ts = {0, (long)*us * 1000};
    nanosleep(&ts, NULL);
    if (*us < 1000)
        *us *= 2;
}

/* Wait for every worker's part (task_dump.h step 3).  Returns 0, or
 * -ESHUTDOWN if a worker stopped before answering. */
static int gather(ar_rt *rt, struct ar__dump_req *r)
{
    int rc = 0;
    unsigned us = 20;
    for (uint32_t i = 0; i < rt->nworkers; i++) {
        ar_worker *w = &rt->workers[i];
        dump_part *p = &r->parts[i];
        for (;;) {
            if (atomic_load_explicit(&p->done, memory_order_acquire))
                break;
            if (rt->flavor == AR_RT_CURRENT_THREAD) {
                if (try_serve_current(rt, p))
                    break;
                if (atomic_load_explicit(&rt->shutdown, memory_order_acquire)) {
                    rc = -ESHUTDOWN;
                    break;
                }
            } else if (atomic_load_explicit(&w->stopped, memory_order_acquire)) {
                /* It checked for the request before stopping; look once
                 * more, in case it answered just before. */
                if (!atomic_load_explicit(&p->done, memory_order_acquire))
                    rc = -ESHUTDOWN;
                break;
            }
            ar__worker_unpark(w); /* it may have parked before the request */
            nap(&us);
        }
    }
    return rc;
}

static int write_all(ar_rt *rt, struct ar__dump_req *r, dump_part *ext, FILE *out)
{
    uint32_t total = ext->ntasks;
    for (uint32_t i = 0; i < rt->nworkers; i++)
        total += r->parts[i].ntasks;
    int ok = fprintf(out, "task dump: %u live task%s, %u worker%s\n", total, total == 1 ? "" : "s",
                     rt->nworkers, rt->nworkers == 1 ? "" : "s") >= 0;
    for (uint32_t i = 0; i < rt->nworkers; i++) {
        dump_part *p = &r->parts[i];
        if (!atomic_load_explicit(&p->done, memory_order_acquire))
            ok &= fprintf(out, "worker %u: stopped before answering\n", i) >= 0;
        else
            ok &= fprintf(out, "worker %u: %u task%s\n", i, p->ntasks,
                          p->ntasks == 1 ? "" : "s") >= 0;
        if (p->len)
            ok &= fwrite(p->text, 1, p->len, out) == p->len;
    }
    ok &= fprintf(out, "other threads: %u task%s\n", ext->ntasks, ext->ntasks == 1 ? "" : "s") >= 0;
    if (ext->len)
        ok &= fwrite(ext->text, 1, ext->len, out) == ext->len;
    ok &= fflush(out) == 0;
    return ok ? (int)total : -EIO;
}

int ar_rt_dump_tasks(ar_rt *rt, FILE *out)
{
    if (!rt || !out)
        return -EINVAL;
    ar_worker *me = ar__tls_worker;
    bool own_current = false;
    if (me && me->rt == rt) {
        if (rt->flavor != AR_RT_CURRENT_THREAD)
            return -EDEADLK;
        own_current = true; /* the driving thread owns worker 0's shard */
    }
    if (atomic_load_explicit(&rt->shutdown, memory_order_acquire))
        return -ESHUTDOWN;

    struct ar__dump_req *r = calloc(1, sizeof *r + rt->nworkers * sizeof(dump_part));
    if (!r)
        return -ENOMEM;
    dump_part ext = {0};
    pthread_mutex_lock(&rt->dump_mu);
    int rc = 0;
    if (own_current) {
        list_shard(&me->shard, &r->parts[0]);
        atomic_store_explicit(&r->parts[0].done, true, memory_order_relaxed);
    } else {
        /* Step 1.  dump_gen only grows under dump_mu, so a plain +1 is the
         * next generation. */
        r->gen = atomic_load_explicit(&rt->dump_gen, memory_order_relaxed) + 1;
        atomic_store_explicit(&rt->dump_req, r, memory_order_release);
        atomic_store_explicit(&rt->dump_gen, r->gen, memory_order_release);
        for (uint32_t i = 0; i < rt->nworkers; i++)
            ar__worker_unpark(&rt->workers[i]);
        rc = gather(rt, r);
        atomic_store_explicit(&rt->dump_req, NULL, memory_order_release);
    }
    ar__spin_lock(&rt->ext_shard.lock);
    list_shard(&rt->ext_shard, &ext);
    ar__spin_unlock(&rt->ext_shard.lock);
    pthread_mutex_unlock(&rt->dump_mu);

    for (uint32_t i = 0; i < rt->nworkers && !rc; i++)
        rc = r->parts[i].err;
    if (!rc)
        rc = ext.err;
    int wrc = write_all(rt, r, &ext, out);
    if (!rc)
        rc = wrc;
    for (uint32_t i = 0; i < rt->nworkers; i++)
        free(r->parts[i].text);
    free(ext.text);
    free(r);
    return rc;
}
