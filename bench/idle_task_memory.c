/*
 * bench/idle_task_memory.c - BENCH.md idle_task_memory: spawn 1,000,000
 * tasks that each wait on something that does not fire until released
 * (a shared ar_notify); resident set growth divided by the count; then
 * release them all and exit cleanly.  Unit: bytes per task.
 *
 * The idle task's future is exactly an ar_notified (16 bytes), so a task is
 * its 32-byte header plus that: a 48-byte block.
 */
#include <stdatomic.h>

#include "bench_common.h"

#define NUM_TASKS 1000000

static ar_notify gate;
static _Atomic int finished;

typedef struct idle { ar_notified w; } idle;

static ar_poll idle_poll(void *p, ar_cx *cx)
{
    idle *self = p;
    if (ar_notified_poll(&self->w, cx) == AR_PENDING)
        return AR_PENDING;
    atomic_fetch_add_explicit(&finished, 1, memory_order_relaxed);
    return AR_READY;
}
static void idle_drop(void *p) { ar_notified_drop(&((idle *)p)->w); }
static const ar_future_vt idle_vt = AR_FUTURE_VT_VOID(idle, idle_poll, idle_drop);

typedef struct root { char unused; } root;

static ar_poll root_poll(void *p, ar_cx *cx)
{
    (void)p;
    (void)cx;
    for (int i = 0; i < NUM_TASKS; i++) {
        idle t;
        ar_notified_init(&t.w, &gate);
        BENCH_CHECK(ar_spawn(NULL, &idle_vt, &t, NULL));
    }
    return AR_READY;
}
static const ar_future_vt root_vt = AR_FUTURE_VT_VOID(root, root_poll, NULL);

/* One measurement in a fresh process: memory a previous iteration left in
 * the allocator's caches would otherwise hide the growth. */
static void run_once(unsigned threads)
{
    ar_rt *rt = bench_rt(threads);
    BENCH_CHECK(ar_notify_init(&gate));
    atomic_store(&finished, 0);
    long before = bench_rss_bytes();
    root r = {0};
    ar_join h;
    BENCH_CHECK(ar_spawn(rt, &root_vt, &r, &h));
    BENCH_CHECK(ar_join_wait(&h, NULL, 0));
    while (ar_notify_waiters(&gate) < NUM_TASKS)
        usleep(1000);
    long after = bench_rss_bytes();
    bench_print("idle_task_memory", threads, (double)(after - before) / NUM_TASKS, "B/task");
    /* Release them all and exit cleanly. */
    ar_notify_all(&gate);
    while (atomic_load(&finished) < NUM_TASKS)
        usleep(1000);
    ar_rt_free(rt);
    BENCH_CHECK(ar_notify_destroy(&gate));
}

int main(int argc, char **argv)
{
    bench_args a;
    bench_parse(argc, argv, &a, 1);
    return bench_run_forked("idle_task_memory", a.iters, a.threads, run_once);
}
