/*
 * runtime/semaphore.c - counting semaphore with FIFO waiters (see
 * asyncrt/semaphore.h); the engine under ar_mutex and ar_rwlock.
 *
 * State
 * -----
 *   state    free permits << 1 | WAITERS.  Written by compare-and-swap from
 *            any thread; read by all.
 *   max      permits in existence.  Written under `lock` (add_permits);
 *            read relaxed by releases to check what they give back.
 *   waiters  FIFO list of ar_sem_acquire nodes, guarded by `lock`.  Only the
 *            head may hold permits already (node.need < n: a partial grant).
 *
 * Invariant: WAITERS is set exactly while `waiters` is non-empty, and then
 * the free count is 0.  WAITERS is set and cleared only under `lock`, and
 * the fast paths below never touch a state with WAITERS set, so under the
 * lock such a state is stable.  Hence FIFO: while anybody waits, permits
 * are handed to the head of the list and never reach the free count, where
 * a newcomer could take them.
 *
 * Protocol
 *   1. Acquire fast path: CAS free -= n when WAITERS is clear and n are
 *      free (acquire; pairs with the release CAS of whoever gave them back,
 *      so what a holder wrote before releasing is visible to the next).
 *   2. Acquire slow path, under the lock: take what is free (possibly all
 *      that is needed, after a race), and if more is needed set WAITERS in
 *      the same CAS and append the node with node.need = what is missing.
 *   3. Release fast path: CAS free += n when WAITERS is clear (release).
 *   4. Release slow path, under the lock: hand permits to the head while it
 *      needs some; a satisfied head is unlinked and marked GRANTED and its
 *      waker is woken after unlocking.  When the list empties, what is left
 *      goes to the free count and WAITERS is cleared, in one CAS.
 *   5. A waiter learns that it was granted under the lock (its node state),
 *      which orders it after the releaser's critical section.
 *   6. Dropping a waiter under the lock: unlink it if linked and give what
 *      it had been handed (part for a waiting head, all for a GRANTED node)
 *      to step 4, so nothing is lost.
 */
#include "asyncrt/semaphore.h"

#include <errno.h>
#include <stdatomic.h>

#include "sem.h"
#include "waitlist.h"

#define WAITERS ((uint64_t)1)

/* node.phase (owner only) */
enum { A_INIT = 0, A_WAITING = 1, A_DONE = 2 };
/* node.state (under the lock): linked in the list, or granted (unlinked by
 * a releaser, which moved the waker out to wake it). */
enum { S_LINKED = 1, S_GRANTED = 2 };

static inline ar_sem_acquire *acq_of(ar_waitnode *n)
{
    return (ar_sem_acquire *)(void *)((char *)n - offsetof(ar_sem_acquire, node));
}

int ar_sem_init(ar_semaphore *s, uint64_t permits)
{
    if (!s || permits > AR_SEM_MAX_PERMITS)
        return -EINVAL;
    atomic_init(&s->state, permits << 1);
    atomic_init(&s->max, permits);
    atomic_init(&s->lock, 0);
    s->waiters.head = s->waiters.tail = NULL;
    return 0;
}

int ar_sem_destroy(ar_semaphore *s)
{
    if (!s)
        return -EINVAL;
    ar__wl_lock(&s->lock);
    bool busy = s->waiters.head != NULL;
    ar__wl_unlock(&s->lock);
    return busy ? -EBUSY : 0;
}

/* Step 1. */
static inline bool try_fast(ar_semaphore *s, uint64_t n)
{
    uint64_t st = atomic_load_explicit(&s->state, memory_order_relaxed);
    while (!(st & WAITERS) && (st >> 1) >= n) {
        if (atomic_compare_exchange_weak_explicit(&s->state, &st, st - (n << 1),
                                                  memory_order_acquire, memory_order_relaxed))
            return true;
    }
    return false;
}

int ar_sem_try_acquire(ar_semaphore *s, uint64_t n)
{
    if (!s || n > atomic_load_explicit(&s->max, memory_order_relaxed))
        return -EINVAL;
    if (n == 0)
        return 0;
    return try_fast(s, n) ? 0 : -EAGAIN;
}

/*
 * Step 4: hand n permits to the waiters, the rest to the free count.  Called
 * and returns with the lock held; may unlock in between to wake a full
 * batch (the n permits are ours meanwhile, so nothing can take them).
 * With n == 0 it only clears WAITERS if the list became empty.
 */
static void release_locked(ar_semaphore *s, uint64_t n, ar__wakeset *ws)
{
    for (;;) {
        while (n > 0 && s->waiters.head && !ar__wakeset_full(ws)) {
            ar_waitnode *h = s->waiters.head;
            uint64_t give = n < h->need ? n : h->need;
            h->need -= give;
            n -= give;
            if (h->need == 0) {
                ar__wl_remove(&s->waiters, h);
                h->state = S_GRANTED;
                ar__wakeset_add(ws, h->waker);
                h->waker = AR_WAKER_NONE;
            }
        }
        if (n > 0 && s->waiters.head) {
            /* Batch full: wake it outside the lock and go on. */
            ar__wl_unlock(&s->lock);
            ar__wakeset_wake(ws);
            ar__wl_lock(&s->lock);
            continue;
        }
        break;
    }
    if (s->waiters.head)
        return; /* n == 0: all went to waiters; WAITERS stays */
    /* No waiter left: n and WAITERS go in one CAS (the state may still move
     * under fast paths if WAITERS was already clear). */
    uint64_t st = atomic_load_explicit(&s->state, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(&s->state, &st,
                                                  (((st >> 1) + n) << 1),
                                                  memory_order_release, memory_order_relaxed)) {
    }
}

static inline void finish(ar_sem_acquire *a, int res)
{
    a->node.phase = A_DONE;
    a->node.res = (int16_t)res;
}

ar_poll ar_sem_acquire_poll(ar_sem_acquire *a, ar_cx *cx, int *res)
{
    int dummy;
    if (!res)
        res = &dummy;
    if (!a) {
        *res = -EINVAL;
        return AR_READY;
    }
    ar_semaphore *s = a->sem;
    if (a->node.phase == A_DONE) {
        *res = a->node.res;
        return AR_READY;
    }
    if (!s || !cx) {
        finish(a, -EINVAL);
        *res = -EINVAL;
        return AR_READY;
    }
    if (a->node.phase == A_INIT) {
        if (a->n > atomic_load_explicit(&s->max, memory_order_relaxed)) {
            finish(a, -EINVAL);
            *res = -EINVAL;
            return AR_READY;
        }
        /* Budget even on the fast path (as Tokio does): a task that keeps
         * finding the lock free must still let the others of its worker run. */
        if (!ar_coop_proceed(cx))
            return AR_PENDING;
        if (a->n == 0 || try_fast(s, a->n)) {
            finish(a, 0);
            *res = 0;
            return AR_READY;
        }
        /* Step 2. */
        ar__wl_lock(&s->lock);
        uint64_t st = atomic_load_explicit(&s->state, memory_order_acquire);
        for (;;) {
            if (st & WAITERS) { /* free count is 0: queue behind the others */
                a->node.need = a->n;
                break;
            }
            uint64_t avail = st >> 1;
            uint64_t take = avail < a->n ? avail : a->n;
            uint64_t rest = a->n - take;
            uint64_t nst = ((avail - take) << 1) | (rest ? WAITERS : 0);
            if (atomic_compare_exchange_weak_explicit(&s->state, &st, nst, memory_order_acq_rel,
                                                      memory_order_acquire)) {
                a->node.need = rest;
                break;
            }
        }
        if (a->node.need == 0) {
            ar__wl_unlock(&s->lock);
            finish(a, 0);
            *res = 0;
            return AR_READY;
        }
        a->node.waker = ar_waker_clone(cx->waker);
        a->node.state = S_LINKED;
        a->node.phase = A_WAITING;
        ar__wl_push(&s->waiters, &a->node);
        ar__wl_unlock(&s->lock);
        return AR_PENDING;
    }
    /* Step 5. */
    if (!ar_coop_proceed(cx))
        return AR_PENDING;
    ar_waker old = AR_WAKER_NONE;
    ar__wl_lock(&s->lock);
    bool granted = a->node.state == S_GRANTED;
    if (!granted)
        old = ar__wl_set_waker(&a->node, cx->waker);
    ar__wl_unlock(&s->lock);
    ar_waker_drop(old);
    if (!granted)
        return AR_PENDING;
    finish(a, 0);
    *res = 0;
    return AR_READY;
}

void ar_sem_acquire_init(ar_sem_acquire *a, ar_semaphore *s, uint64_t n)
{
    if (!a)
        return;
    a->node.prev = a->node.next = NULL;
    a->node.waker = AR_WAKER_NONE;
    a->node.need = 0;
    a->node.state = 0;
    a->node.phase = A_INIT;
    a->node.res = 0;
    a->sem = s;
    a->n = n;
}

/* Step 6. */
void ar_sem_acquire_drop(ar_sem_acquire *a)
{
    if (!a)
        return;
    ar_semaphore *s = a->sem;
    if (!s || a->node.phase != A_WAITING) {
        a->node.phase = A_DONE;
        return;
    }
    ar__wakeset ws;
    ws.n = 0; /* only n: zeroing the batch would clear 264 bytes per call */
    ar_waker old = AR_WAKER_NONE;
    ar__wl_lock(&s->lock);
    uint64_t give;
    if (a->node.state == S_LINKED) {
        give = a->n - a->node.need;
        ar__wl_remove(&s->waiters, &a->node);
        old = a->node.waker;
        a->node.waker = AR_WAKER_NONE;
    } else {
        give = a->n; /* granted, never reported: all of it goes on */
    }
    release_locked(s, give, &ws);
    ar__wl_unlock(&s->lock);
    /* Not an error result: the future was abandoned. */
    a->node.phase = A_DONE;
    a->node.res = -ECANCELED;
    ar__wakeset_wake(&ws);
    ar_waker_drop(old);
}

/* Step 3: release n permits while nobody waits, if the holder count that
 * max and *st give allows it.  0 released, -EPERM refused, 1 waiters are
 * queued (release through the list). */
static int release_free(ar_semaphore *s, uint64_t *st, uint64_t max, uint64_t n, uint64_t lo,
                        uint64_t hi)
{
    while (!(*st & WAITERS)) {
        uint64_t avail = *st >> 1;
        uint64_t held = avail <= max ? max - avail : 0;
        if (held < lo || held > hi || n > held)
            return -EPERM;
        if (atomic_compare_exchange_weak_explicit(&s->state, st, *st + (n << 1),
                                                  memory_order_release, memory_order_relaxed))
            return 0;
    }
    return 1;
}

int ar__sem_release_checked(ar_semaphore *s, uint64_t n, uint64_t lo, uint64_t hi)
{
    for (;;) {
        uint64_t max = atomic_load_explicit(&s->max, memory_order_relaxed);
        uint64_t st = atomic_load_explicit(&s->state, memory_order_relaxed);
        int rc = release_free(s, &st, max, n, lo, hi);
        if (rc == 0)
            return 0;
        /* Step 4, and the re-check of a refusal: max and state were read
         * one after the other, so an ar_sem_add_permits running between the
         * two reads (it raises max, then state, under the lock) can make a
         * rightful release look like an over-release.  Under the lock
         * add_permits is not half-way: read both again. */
        ar__wl_lock(&s->lock);
        max = atomic_load_explicit(&s->max, memory_order_relaxed);
        st = atomic_load_explicit(&s->state, memory_order_acquire);
        if (!(st & WAITERS)) {
            if (rc == -EPERM)
                rc = release_free(s, &st, max, n, lo, hi);
            ar__wl_unlock(&s->lock);
            if (rc <= 0)
                return rc;
            continue; /* waiters came, or left meanwhile: start over */
        }
        ar__wakeset ws;
        ws.n = 0; /* only n: zeroing the batch would clear 264 bytes per call */
        ar_waitnode *h = s->waiters.head;
        uint64_t partial = acq_of(h)->n - h->need;
        uint64_t held = max - partial; /* free count is 0 */
        rc = 0;
        if (held < lo || held > hi || n > held)
            rc = -EPERM;
        else
            release_locked(s, n, &ws);
        ar__wl_unlock(&s->lock);
        ar__wakeset_wake(&ws);
        return rc;
    }
}

int ar_sem_release(ar_semaphore *s, uint64_t n)
{
    if (!s)
        return -EINVAL;
    if (n == 0)
        return 0;
    int rc = ar__sem_release_checked(s, n, n, UINT64_MAX);
    return rc == -EPERM ? -EOVERFLOW : rc;
}

int ar_sem_add_permits(ar_semaphore *s, uint64_t n)
{
    if (!s)
        return -EINVAL;
    ar__wakeset ws;
    ws.n = 0; /* only n: zeroing the batch would clear 264 bytes per call */
    ar__wl_lock(&s->lock);
    uint64_t max = atomic_load_explicit(&s->max, memory_order_relaxed);
    if (n > AR_SEM_MAX_PERMITS - max) {
        ar__wl_unlock(&s->lock);
        return -EOVERFLOW;
    }
    atomic_store_explicit(&s->max, max + n, memory_order_relaxed);
    if (n)
        release_locked(s, n, &ws);
    ar__wl_unlock(&s->lock);
    ar__wakeset_wake(&ws);
    return 0;
}

uint64_t ar_sem_available(ar_semaphore *s)
{
    if (!s)
        return 0;
    return atomic_load_explicit(&s->state, memory_order_acquire) >> 1;
}
