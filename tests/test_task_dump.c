/*
 * tests/test_task_dump.c - ar_rt_dump_tasks (asyncrt/task_dump.h): every
 * live task listed once, with its state, name and spawn site; finished
 * tasks gone; plain-thread spawns under "other threads"; the current-thread
 * flavour, driven or not; the refusals (-EDEADLK on a worker, -ESHUTDOWN,
 * -EINVAL); and dumps racing with spawn/finish storms (stress suite, TSan).
 */
#include "helpers.h"

#include <stdlib.h>
#include <string.h>

/* ---- a task that waits on a notify, then ends ---- */
typedef struct waiter {
    ar_co co;
    ar_notified w;
} waiter;
static ar_notify gate;
static ar_poll waiter_poll(void *p, ar_cx *cx)
{
    waiter *self = p;
    AR_BEGIN(&self->co);
    ar_notified_init(&self->w, &gate);
    AR_AWAIT(ar_notified_poll(&self->w, cx));
    AR_END;
}
static void waiter_drop(void *p) { ar_notified_drop(&((waiter *)p)->w); }
static const ar_future_vt waiter_vt = AR_FUTURE_VT_VOID(waiter, waiter_poll, waiter_drop);

/* ---- a task that yields until told to stop (always scheduled or running) ---- */
static _Atomic bool spin_stop;
typedef struct spinner {
    int unused;
} spinner;
static ar_poll spinner_poll(void *p, ar_cx *cx)
{
    (void)p;
    if (atomic_load(&spin_stop))
        return AR_READY;
    ar_waker_wake_by_ref(cx->waker);
    return AR_PENDING;
}
static const ar_future_vt spinner_vt = AR_FUTURE_VT_VOID(spinner, spinner_poll, NULL);

static ar_rt *rt_sites(ar_rt_flavor flavor, uint32_t workers, bool sites)
{
    ar_rt_opts o;
    ar_rt_opts_init(&o);
    o.flavor = flavor;
    o.workers = workers;
    o.task_sites = sites;
    ar_rt *rt = NULL;
    T_OK(ar_rt_new(&rt, &o));
    return rt;
}

/* The dump as a string (caller frees); *rc gets ar_rt_dump_tasks' result. */
static char *dump(ar_rt *rt, int *rc)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cr_assert(ne(ptr, f, NULL));
    *rc = ar_rt_dump_tasks(rt, f);
    fclose(f);
    return buf;
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

/* Lines that list a task (they start with two spaces and an address). */
static int task_lines(const char *text) { return count(text, "\n  0x"); }

static void wait_waiters(uint32_t n)
{
    T_WAIT_UNTIL(ar_notify_waiters(&gate) == n);
}

Test(task_dump, lists_live_tasks_with_state_name_and_site, .timeout = 60)
{
    T_OK(ar_notify_init(&gate));
    ar_rt *rt = rt_sites(AR_RT_MULTI_THREAD, 2, true);
    enum { N = 10 };
    waiter wt = {0};
    int site_line = __LINE__ + 2;
    for (int i = 0; i < N; i++)
        T_OK(ar_spawn(rt, &waiter_vt, &wt, NULL));
    T_OK(ar_spawn_named(rt, "the-named-one", &waiter_vt, &wt, NULL));
    wait_waiters(N + 1);

    int rc;
    char *text = dump(rt, &rc);
    cr_log_info("%s", text);
    T_EQ_INT(rc, N + 1);
    T_EQ_INT(task_lines(text), N + 1);
    T_EQ_INT(count(text, " idle "), N + 1);
    T_EQ_INT(count(text, "the-named-one"), 1);
    T_EQ_INT(count(text, " waiter "), N); /* the type's name for the others */
    char site[64];
    snprintf(site, sizeof site, "test_task_dump.c:%d\n", site_line);
    T_EQ_INT(count(text, site), N);
    cr_assert(count(text, "task dump: 11 live tasks, 2 workers\n") == 1, "%s", text);
    /* Spawned from this (plain) thread. */
    cr_assert(count(text, "other threads: 11 tasks\n") == 1, "%s", text);
    free(text);

    ar_notify_all(&gate);
    /* Finished tasks leave the dump. */
    for (;;) {
        text = dump(rt, &rc);
        bool empty = rc == 0;
        if (empty)
            T_EQ_INT(task_lines(text), 0);
        free(text);
        if (empty)
            break;
        t_sleep_ms(1);
    }
    ar_rt_free(rt);
    T_OK(ar_notify_destroy(&gate));
}

/* Tasks spawned by tasks are listed under their workers, and a task that
 * keeps waking itself shows as scheduled or running, never idle. */
typedef struct spawner {
    int n;
} spawner;
static ar_poll spawner_poll(void *p, ar_cx *cx)
{
    (void)cx;
    spawner *self = p;
    waiter wt = {0};
    for (int i = 0; i < self->n; i++)
        T_BG_EQ(ar_spawn_named(NULL, "child", &waiter_vt, &wt, NULL), 0);
    spinner s = {0};
    T_BG_EQ(ar_spawn(NULL, &spinner_vt, &s, NULL), 0);
    return AR_READY;
}
static const ar_future_vt spawner_vt = AR_FUTURE_VT_VOID(spawner, spawner_poll, NULL);

Test(task_dump, worker_spawns_and_busy_tasks, .timeout = 60)
{
    T_OK(ar_notify_init(&gate));
    atomic_store(&spin_stop, false);
    ar_rt *rt = rt_sites(AR_RT_MULTI_THREAD, 2, false);
    spawner sp = {.n = 5};
    T_OK(ar_spawn(rt, &spawner_vt, &sp, NULL));
    wait_waiters(5);

    int rc;
    char *text = dump(rt, &rc);
    cr_log_info("%s", text);
    T_EQ_INT(rc, 6); /* 5 children + the spinner; the spawner finished */
    T_EQ_INT(count(text, " child "), 5);
    T_EQ_INT(count(text, " spinner "), 1);
    cr_assert(count(text, " idle ") == 5, "%s", text);
    /* Sites were not asked for: every site is "?". */
    T_EQ_INT(count(text, "  ?\n"), 6);
    cr_assert(count(text, "other threads: 0 tasks\n") == 1, "%s", text);
    /* Spinner is woken by itself: scheduled or running. */
    cr_assert(count(text, " scheduled ") + count(text, " running ") == 1, "%s", text);
    free(text);

    atomic_store(&spin_stop, true);
    ar_notify_all(&gate);
    ar_rt_free(rt);
    T_OK(ar_notify_destroy(&gate));
}

/* ---- from a task: a worker may not wait for itself ---- */
typedef struct self_dump {
    int rc;
} self_dump;
static ar_poll self_dump_poll(void *p, ar_cx *cx)
{
    (void)cx;
    self_dump *self = p;
    FILE *f = fopen("/dev/null", "w");
    self->rc = ar_rt_dump_tasks(ar_rt_current(), f);
    fclose(f);
    return AR_READY;
}
static const ar_future_vt self_dump_vt = AR_FUTURE_VT(self_dump, self_dump_poll, NULL, rc);

Test(task_dump, refused_on_a_worker_and_after_shutdown, .timeout = 60)
{
    ar_rt *rt = t_rt_mt(2);
    self_dump sd = {0};
    ar_join j;
    T_OK(ar_spawn(rt, &self_dump_vt, &sd, &j));
    int out = 0;
    T_OK(ar_join_wait(&j, &out, sizeof out));
    T_EQ_INT(out, -EDEADLK);

    T_EQ_INT(ar_rt_dump_tasks(NULL, stderr), -EINVAL);
    T_EQ_INT(ar_rt_dump_tasks(rt, NULL), -EINVAL);
    T_OK(ar_rt_shutdown(rt));
    T_EQ_INT(ar_rt_dump_tasks(rt, stderr), -ESHUTDOWN);
    ar_rt_free(rt);
}

Test(task_dump, write_error_is_eio, .timeout = 30)
{
    ar_rt *rt = t_rt_mt(1);
    FILE *ro = fopen("/dev/null", "r"); /* writes to it fail */
    cr_assert(ne(ptr, ro, NULL));
    T_EQ_INT(ar_rt_dump_tasks(rt, ro), -EIO);
    fclose(ro);
    ar_rt_free(rt);
}

/* ---- current-thread flavour ---- */
typedef struct ct_main {
    ar_co co;
    ar_notified w;
    int dump_rc;
    char *text;
} ct_main;
static ar_poll ct_main_poll(void *p, ar_cx *cx)
{
    ct_main *self = p;
    AR_BEGIN(&self->co);
    {
        waiter wt = {0};
        for (int i = 0; i < 3; i++)
            T_BG_EQ(ar_spawn_named(NULL, "ct-child", &waiter_vt, &wt, NULL), 0);
    }
    /* Let the children register on the gate. */
    while (ar_notify_waiters(&gate) < 3) {
        AR_YIELD(cx);
    }
    {
        /* On the driving thread itself: listed directly. */
        size_t len = 0;
        FILE *f = open_memstream(&self->text, &len);
        self->dump_rc = ar_rt_dump_tasks(ar_rt_current(), f);
        fclose(f);
    }
    ar_notify_all(&gate);
    AR_END;
}
static const ar_future_vt ct_main_vt = AR_FUTURE_VT_VOID(ct_main, ct_main_poll, NULL);

Test(task_dump, current_thread_from_its_own_thread, .timeout = 60)
{
    T_OK(ar_notify_init(&gate));
    ar_rt *rt = rt_sites(AR_RT_CURRENT_THREAD, 0, true);
    ct_main m = {0};
    T_OK(ar_block_on(rt, &ct_main_vt, &m));
    cr_log_info("%s", m.text);
    T_EQ_INT(m.dump_rc, 3);
    T_EQ_INT(count(m.text, " ct-child "), 3);
    T_EQ_INT(count(m.text, "test_task_dump.c:"), 3);
    free(m.text);
    T_BG_ASSERT_CLEAN();
    ar_rt_free(rt);
    T_OK(ar_notify_destroy(&gate));
}

/* Not driven: the caller lists worker 0 itself.  Driven by another thread:
 * the driver answers between polls. */
static ar_rt *ct_rt;
static _Atomic bool ct_release;
typedef struct ct_drive {
    int unused;
} ct_drive;
static ar_poll ct_drive_poll(void *p, ar_cx *cx)
{
    (void)p;
    if (atomic_load(&ct_release))
        return AR_READY;
    /* Keep the driver busy between polls (never parked for long). */
    ar_waker_wake_by_ref(cx->waker);
    return AR_PENDING;
}
static const ar_future_vt ct_drive_vt = AR_FUTURE_VT_VOID(ct_drive, ct_drive_poll, NULL);
static void *driver_main(void *arg)
{
    (void)arg;
    ct_drive d = {0};
    T_BG_EQ(ar_block_on(ct_rt, &ct_drive_vt, &d), 0);
    return NULL;
}

Test(task_dump, current_thread_driven_or_not, .timeout = 60)
{
    T_OK(ar_notify_init(&gate));
    ct_rt = rt_sites(AR_RT_CURRENT_THREAD, 0, false);
    waiter wt = {0};
    for (int i = 0; i < 4; i++)
        T_OK(ar_spawn(ct_rt, &waiter_vt, &wt, NULL));
    /* Nobody drives: the four sit unpolled in the injection queue and
     * the plain-threads shard. */
    int rc;
    char *text = dump(ct_rt, &rc);
    T_EQ_INT(rc, 4);
    cr_assert(count(text, "other threads: 4 tasks\n") == 1, "%s", text);
    free(text);

    atomic_store(&ct_release, false);
    pthread_t th;
    cr_assert(eq(int, pthread_create(&th, NULL, driver_main, NULL), 0));
    wait_waiters(4);
    for (int round = 0; round < 20; round++) {
        text = dump(ct_rt, &rc);
        T_EQ_INT(rc, 4);
        T_EQ_INT(count(text, " idle "), 4);
        free(text);
    }
    atomic_store(&ct_release, true);
    pthread_join(th, NULL);
    ar_notify_all(&gate);
    T_BG_ASSERT_CLEAN();
    ar_rt_free(ct_rt);
    T_OK(ar_notify_destroy(&gate));
}

/* ---- stress: dumps racing with spawn/finish storms and parking ---- */
typedef struct storm {
    int left;
} storm;
static _Atomic int storm_done;
static const ar_future_vt storm_vt;
static ar_poll storm_poll(void *p, ar_cx *cx)
{
    (void)cx;
    storm *self = p;
    for (int i = 0; i < 2 && self->left > 0; i++) {
        storm child = {.left = self->left - 1};
        T_BG_EQ(ar_spawn_named(NULL, "storm", &storm_vt, &child, NULL), 0);
    }
    atomic_fetch_add(&storm_done, 1);
    return AR_READY;
}
static const ar_future_vt storm_vt = AR_FUTURE_VT_VOID(storm, storm_poll, NULL);

Test(task_dump, dumps_during_spawn_storms, .timeout = 120)
{
    T_OK(ar_notify_init(&gate));
    ar_rt *rt = rt_sites(AR_RT_MULTI_THREAD, 2, true);
    waiter wt = {0};
    enum { W = 3 };
    for (int i = 0; i < W; i++)
        T_OK(ar_spawn(rt, &waiter_vt, &wt, NULL));
    wait_waiters(W);
    int rounds = T_N(40);
    for (int r = 0; r < rounds; r++) {
        atomic_store(&storm_done, 0);
        storm s = {.left = 9}; /* 2^10 - 1 tasks */
        T_OK(ar_spawn(rt, &storm_vt, &s, NULL));
        int rc;
        char *text = dump(rt, &rc);
        /* The waiters are always there; storm tasks come and go. */
        cr_assert(rc >= W, "rc %d", rc);
        T_EQ_INT(task_lines(text), rc);
        T_EQ_INT(count(text, " waiter "), W);
        free(text);
        T_WAIT_UNTIL(atomic_load(&storm_done) == 1023);
    }
    /* Quiet again: exactly the waiters (finished storms may wait for a
     * sweep, but are never listed). */
    int rc;
    char *text = dump(rt, &rc);
    T_EQ_INT(rc, W);
    free(text);
    ar_notify_all(&gate);
    T_BG_ASSERT_CLEAN();
    ar_rt_free(rt);
    T_OK(ar_notify_destroy(&gate));
}
