/*
 * fuzz/fuzz_api.c - libFuzzer target driving the public API from a byte
 * script (issue 8 item 5).
 *
 * Each input is a program run on a fresh current-thread runtime (one
 * thread, so a script replays the same way): the main future reads the
 * bytes two at a time, (opcode, argument), and spawns tasks of several
 * kinds (ready at once, yielding, sleeping, parked on a notify, receiving
 * from a channel, a closure call borrowing a shared closure), wakes them
 * (notify one/all), aborts, joins, detaches, sends and receives on a
 * bounded channel, clones/drops senders, closes the receiver, borrows and
 * releases closures inline (call, drop the call future half-way), tries to
 * drop a closure while borrowed, starts and cancels sleeps and timeouts,
 * spawns into a task set and aborts it, yields and sleeps itself.  At the
 * end it aborts or detaches what is left, shuts the runtime down and frees
 * it.
 *
 * Checked besides ASan/UBSan/LSan: each task ends exactly once (finished or
 * dropped, never both, never twice), every spawned task ended after
 * shutdown, a join gives the task's own output or -ECANCELED only after an
 * abort or shutdown, a channel never delivers a value twice or out of
 * order, every closure call started also ended, and the closures drop
 * cleanly after shutdown.  A violation aborts (libFuzzer saves the input).
 *
 * Replay a crash: build-fuzz/fuzz/fuzz_api CRASH_FILE.
 */
#include <asyncrt.h>
#include <asyncrt/closure.h>

/* The coroutine macros' resume points are case labels that clang's
 * -Wimplicit-fallthrough reports at every await (gcc does not). */
#if defined(__clang__)
#pragma clang diagnostic ignored "-Wimplicit-fallthrough"
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(c)                                                                 \
    do {                                                                         \
        if (!(c)) {                                                              \
            fprintf(stderr, "fuzz_api: check failed: %s (%s:%d)\n", #c, __FILE__, \
                    __LINE__);                                                   \
            abort();                                                             \
        }                                                                        \
    } while (0)

enum { NSLOTS = 8, NNOTIFY = 2, MAXTASKS = 512 };

/* Ghost table: how each task (by id) ended. */
enum { T_NONE = 0, T_LIVE, T_DONE, T_DROPPED };
static uint8_t ended[MAXTASKS];
static int ntasks;
static ar_notify notifies[NNOTIFY];
static ar_mpsc_rx chan_rx;
static bool chan_rx_live;
static long chan_next_recv; /* values are sent 0,1,2,... and must come in order */
static int calls_started, calls_ended;
static bool recv_live; /* one receiving task at a time: the channel is single-consumer */

/* --- the spawned task kinds --------------------------------------------- */
enum { K_READY, K_YIELD, K_SLEEP, K_NOTIFY, K_RECV, NKINDS };

typedef struct fz_task {
    ar_co co;
    int id, kind, n, i, res;
    bool armed;
    ar_yield_now y;
    ar_sleep s;
    ar_notified w;
    ar_mpsc_rx *rx;
    long v;
    int out; /* = id */
} fz_task;

static ar_poll fz_task_poll(void *p, ar_cx *cx)
{
    fz_task *self = p;
    AR_BEGIN(&self->co);
    switch (self->kind) { /* no await inside: only sets up */
    case K_SLEEP:
        ar_sleep_init(&self->s, (uint64_t)(self->n % 3));
        self->armed = true;
        break;
    case K_NOTIFY:
        ar_notified_init(&self->w, &notifies[self->n % NNOTIFY]);
        self->armed = true;
        break;
    default:
        break;
    }
    if (self->kind == K_YIELD)
        for (self->i = 0; self->i < self->n % 4; self->i++)
            AR_AWAIT(ar_yield_now_poll(&self->y, cx));
    /* Sleepers and notify waiters wait 1-3 times, so a task that was woken
     * (queued) can still be pending afterwards: an abort lost on a queued
     * task then hangs the join that follows it (libFuzzer's -timeout). */
    for (self->i = 0; self->i <= self->n % 3; self->i++) {
        if (self->kind == K_SLEEP) {
            AR_AWAIT(ar_sleep_poll(&self->s, cx));
            ar_sleep_drop(&self->s);
            ar_sleep_init(&self->s, (uint64_t)(self->n % 3));
        }
        if (self->kind == K_NOTIFY) {
            AR_AWAIT(ar_notified_poll(&self->w, cx));
            ar_notified_drop(&self->w);
            ar_notified_init(&self->w, &notifies[self->n % NNOTIFY]);
        }
    }
    if (self->kind == K_RECV && chan_rx_live && self->rx == &chan_rx) {
        AR_AWAIT(ar_mpsc_recv_poll(self->rx, cx, &self->v, &self->res));
        if (self->res == 0) {
            CHECK(self->v == chan_next_recv);
            chan_next_recv++;
        } else {
            CHECK(self->res == -EPIPE);
        }
    }
    if (self->kind == K_SLEEP)
        ar_sleep_drop(&self->s);
    if (self->kind == K_NOTIFY)
        ar_notified_drop(&self->w);
    self->armed = false;
    if (self->kind == K_RECV)
        recv_live = false;
    CHECK(ended[self->id] == T_LIVE);
    ended[self->id] = T_DONE;
    self->out = self->id;
    AR_END;
}

static void fz_task_drop(void *p)
{
    fz_task *self = p;
    if (self->armed && self->kind == K_SLEEP)
        ar_sleep_drop(&self->s);
    if (self->armed && self->kind == K_NOTIFY)
        ar_notified_drop(&self->w);
    if (self->kind == K_RECV)
        recv_live = false;
    CHECK(ended[self->id] == T_LIVE);
    ended[self->id] = T_DROPPED;
}
static const ar_future_vt fz_task_vt = AR_FUTURE_VT(fz_task, fz_task_poll, fz_task_drop, out);

/* --- a closure that calls borrow ---------------------------------------- */
typedef struct fz_env {
    int tag;
} fz_env;
typedef struct fz_frame {
    ar_co co;
    int arg;
    bool armed, started;
    ar_notified w;
    int out;
} fz_frame;
static void fz_frame_drop(fz_frame *f)
{
    if (f->armed)
        ar_notified_drop(&f->w);
    if (f->started)
        calls_ended++;
}
AR_CLOSURE(fz_fn, AR_FN, fz_env, fz_frame, fz_fn_body, fz_frame_drop, NULL);
AR_CLOSURE(fz_mut, AR_MUT, fz_env, fz_frame, fz_mut_body, fz_frame_drop, NULL);
static ar_poll fz_body(const fz_env *env, fz_frame *self, ar_cx *cx)
{
    AR_BEGIN(&self->co);
    calls_started++;
    self->started = true;
    if (self->arg & 1) {
        ar_notified_init(&self->w, &notifies[(self->arg >> 1) % NNOTIFY]);
        self->armed = true;
        AR_AWAIT(ar_notified_poll(&self->w, cx));
        ar_notified_drop(&self->w);
        self->armed = false;
    }
    self->out = env->tag;
    self->started = false; /* ended: a drop now must not count it again */
    calls_ended++;
    AR_END;
}
static ar_poll fz_fn_body(const fz_env *env, fz_frame *self, ar_cx *cx) { return fz_body(env, self, cx); }
static ar_poll fz_mut_body(fz_env *env, fz_frame *self, ar_cx *cx) { return fz_body(env, self, cx); }

/* --- the script interpreter (the main future) ---------------------------- */
typedef struct slot {
    ar_join h;
    int id; /* -1: closure call (output is the env tag) */
    bool live, aborted;
} slot;

typedef struct script {
    ar_co co;
    const uint8_t *data;
    size_t size, pc;
    uint8_t op, arg;
    ar_rt *rt;
    slot slots[NSLOTS];
    int k, jres, jout;
    fz_fn fn;
    fz_mut mut;
    bool fn_live, mut_live;
    fz_mut_ref_fut inline_call;
    bool inline_live;
    ar_mpsc_tx tx[2];
    bool tx_live[2];
    long next_send;
    ar_sleep s;
    ar_yield_now y;
    ar_task_set set;
    bool set_live;
    ar_task_set_next next;
    int out;
} script;

/* A K_RECV task while another one lives becomes K_READY. */
static int task_kind(int kind)
{
    if (kind == K_RECV && recv_live)
        return K_READY;
    if (kind == K_RECV)
        recv_live = true;
    return kind;
}

static void spawn_task(script *self, int kind, int n)
{
    slot *sl = &self->slots[self->arg % NSLOTS];
    if (sl->live || ntasks >= MAXTASKS)
        return;
    kind = task_kind(kind);
    fz_task t = {.id = ntasks, .kind = kind, .n = n, .rx = &chan_rx};
    ended[ntasks] = T_LIVE;
    int rc = ar_spawn(self->rt, &fz_task_vt, &t, &sl->h);
    CHECK(rc == 0);
    ntasks++;
    sl->id = t.id;
    sl->live = true;
    sl->aborted = false;
}

static void slot_done(slot *sl, int res, int out)
{
    if (res == 0)
        CHECK(sl->id < 0 ? out == 7 : (out == sl->id && ended[sl->id] == T_DONE));
    else
        CHECK(res == -ECANCELED && sl->aborted &&
              (sl->id < 0 || ended[sl->id] == T_DROPPED));
    sl->live = false;
}

static ar_poll script_poll(void *p, ar_cx *cx)
{
    script *self = p;
    slot *sl;
    int rc;
    AR_BEGIN(&self->co);
    self->rt = ar_rt_current();
    self->fn = AR_CLOSURE_NEW(fz_fn, {.tag = 7});
    self->mut = AR_CLOSURE_NEW(fz_mut, {.tag = 7});
    self->fn_live = self->mut_live = true;
    for (self->pc = 0; self->pc + 1 < self->size; self->pc += 2) {
        self->op = self->data[self->pc] % 20;
        self->arg = self->data[self->pc + 1];
        sl = &self->slots[self->arg % NSLOTS];
        switch (self->op) {
        case 0: case 1: case 2: case 3: case 4: /* spawn a task of kind op */
            spawn_task(self, self->op, self->arg >> 3);
            break;
        case 5: /* wake one */
            ar_notify_one(&notifies[self->arg % NNOTIFY]);
            break;
        case 6: /* wake all */
            ar_notify_all(&notifies[self->arg % NNOTIFY]);
            break;
        case 7: /* abort */
            if (sl->live) {
                CHECK(ar_join_abort(&sl->h) == 0);
                sl->aborted = true;
            }
            break;
        case 8: /* detach */
            if (sl->live) {
                CHECK(ar_join_detach(&sl->h) == 0);
                CHECK(ar_join_detach(&sl->h) == -EBADF);
                sl->live = false;
            }
            break;
        case 9: /* send on the channel */
            if (self->tx_live[self->arg & 1]) {
                rc = ar_mpsc_try_send(&self->tx[self->arg & 1], &self->next_send);
                if (rc == 0)
                    self->next_send++;
                else
                    CHECK(rc == -EAGAIN || rc == -EPIPE);
            }
            break;
        case 10: /* sender clone / drop, receiver close */
            if ((self->arg & 3) == 0 && self->tx_live[0] && !self->tx_live[1]) {
                CHECK(ar_mpsc_tx_clone(&self->tx[0], &self->tx[1]) == 0);
                self->tx_live[1] = true;
            } else if ((self->arg & 3) == 1 && self->tx_live[1]) {
                ar_mpsc_tx_drop(&self->tx[1]);
                self->tx_live[1] = false;
            } else if ((self->arg & 3) == 2 && chan_rx_live) {
                CHECK(ar_mpsc_close(&chan_rx) == 0);
            }
            break;
        case 11: /* spawn a closure call borrowing the shared closure */
            if (!sl->live && self->fn_live) {
                rc = ar_spawn_call(self->rt, &self->fn, &sl->h, self->arg >> 3);
                if (rc == 0) {
                    sl->live = true;
                    sl->aborted = false;
                    sl->id = -1;
                }
            }
            break;
        case 12: /* borrow a MUT closure inline, poll once, maybe release early */
            if (self->inline_live) {
                ar_call_drop(&self->inline_call);
                self->inline_live = false;
            } else if (self->mut_live) {
                rc = ar_call_mut(&self->mut, &self->inline_call, self->arg >> 1);
                if (rc == 0) {
                    self->inline_live = true;
                    /* A second mutable borrow must be refused. */
                    fz_mut_ref_fut again;
                    CHECK(ar_call_mut(&self->mut, &again, 0) == AR_EBORROWED);
                    if (fz_mut_poll(&self->inline_call, cx) == AR_READY) {
                        CHECK(self->inline_call.frame.out == 7);
                        ar_call_drop(&self->inline_call);
                        self->inline_live = false;
                    }
                } else {
                    CHECK(rc == AR_EBORROWED);
                }
            }
            break;
        case 13: /* try to drop a closure (refused while borrowed), recreate it */
            if (self->arg & 1) {
                rc = ar_closure_try_drop(&self->fn.base);
                if (rc == 0)
                    self->fn = AR_CLOSURE_NEW(fz_fn, {.tag = 7});
                else
                    CHECK(rc == AR_EBORROWED);
            } else if (!self->inline_live) {
                CHECK(ar_closure_try_drop(&self->mut.base) == 0);
                self->mut = AR_CLOSURE_NEW(fz_mut, {.tag = 7});
            }
            break;
        case 14: /* task set: spawn into it, or abort all */
            if (!self->set_live) {
                CHECK(ar_task_set_init(&self->set, self->rt, sizeof(int)) == 0);
                self->set_live = true;
            }
            if ((self->arg & 1) && ntasks < MAXTASKS) {
                fz_task t = {.id = ntasks, .kind = task_kind((self->arg >> 1) % NKINDS), .n = self->arg >> 4,
                             .rx = &chan_rx};
                ended[ntasks] = T_LIVE;
                CHECK(ar_task_set_spawn(&self->set, &fz_task_vt, &t, NULL) == 0);
                ntasks++;
            } else {
                CHECK(ar_task_set_abort_all(&self->set) >= 0);
            }
            break;
        default:
            break;
        }
        /* Ops that await: the main future gives the tasks a turn. */
        if (self->op == 15) { /* join: abort first unless finished, then await */
            sl = &self->slots[self->arg % NSLOTS];
            if (sl->live) {
                if (!ar_join_is_finished(&sl->h) && !(self->arg & 8)) {
                    CHECK(ar_join_abort(&sl->h) == 0);
                    sl->aborted = true;
                }
                if (ar_join_is_finished(&sl->h) || sl->aborted) {
                    self->k = self->arg % NSLOTS;
                    AR_AWAIT(ar_join_poll(&self->slots[self->k].h, cx, &self->jout,
                                          sizeof self->jout, &self->jres));
                    slot_done(&self->slots[self->k], self->jres, self->jout);
                    CHECK(ar_join_detach(&self->slots[self->k].h) == -EALREADY);
                }
            }
        }
        if (self->op == 16) /* yield */
            AR_AWAIT(ar_yield_now_poll(&self->y, cx));
        if (self->op == 17) { /* sleep 0-1 ms */
            ar_sleep_init(&self->s, self->arg & 1);
            AR_AWAIT(ar_sleep_poll(&self->s, cx));
            ar_sleep_drop(&self->s);
        }
        if (self->op == 18) { /* cancel: arm a long sleep, poll it once, drop it */
            ar_sleep_init(&self->s, 100000);
            CHECK(ar_sleep_poll(&self->s, cx) == AR_PENDING);
            ar_sleep_drop(&self->s);
        }
        if (self->op == 19 && self->set_live && ar_task_set_len(&self->set) > 0 &&
            (self->arg & 1)) { /* take one result of the set, aborting the rest first */
            CHECK(ar_task_set_abort_all(&self->set) >= 0);
            ar_task_set_next_init(&self->next, &self->set, &self->jout, sizeof self->jout);
            AR_AWAIT(ar_task_set_next_vt.poll(&self->next, cx));
        }
    }
    /* End of script: release what the main future holds. */
    if (self->inline_live)
        ar_call_drop(&self->inline_call);
    if (self->set_live)
        ar_task_set_drop(&self->set);
    AR_END;
}
static const ar_future_vt script_vt = AR_FUTURE_VT(script, script_poll, NULL, out);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 512)
        return 0; /* long scripts add time, not behaviour */
    static bool once;
    (void)fz_fn_poll; /* generated by AR_CLOSURE; calls go through ar_spawn_call */
    if (!once) {
        ar_borrow_set_mode(AR_BORROW_MODE_RETURN);
        once = true;
    }
    memset(ended, 0, sizeof ended);
    ntasks = calls_started = calls_ended = 0;
    recv_live = false;
    chan_next_recv = 0;
    for (int i = 0; i < NNOTIFY; i++)
        CHECK(ar_notify_init(&notifies[i]) == 0);

    ar_rt_opts o;
    ar_rt_opts_init(&o);
    o.flavor = AR_RT_CURRENT_THREAD;
    o.workers = 1;
    ar_rt *rt;
    CHECK(ar_rt_new(&rt, &o) == 0);

    static script s;
    memset(&s, 0, sizeof s);
    s.data = data;
    s.size = size;
    CHECK(ar_mpsc_bounded(&s.tx[0], &chan_rx, sizeof(long), 2) == 0);
    s.tx_live[0] = true;
    chan_rx_live = true;
    CHECK(ar_block_on(rt, &script_vt, &s) == 0);

    /* Abort or detach every live handle; joins after shutdown see the end. */
    for (int i = 0; i < NSLOTS; i++)
        if (s.slots[i].live && (i & 1)) {
            CHECK(ar_join_abort(&s.slots[i].h) == 0);
            s.slots[i].aborted = true;
        }
    CHECK(ar_rt_shutdown(rt) == 0);
    for (int i = 0; i < NSLOTS; i++) {
        slot *sl = &s.slots[i];
        if (!sl->live)
            continue;
        if (i & 2) {
            CHECK(ar_join_detach(&sl->h) == 0);
        } else {
            int out = -1;
            int rc = ar_join_wait(&sl->h, &out, sizeof out);
            sl->aborted = true; /* shutdown cancels like an abort */
            slot_done(sl, rc, out);
        }
    }
    ar_rt_free(rt);

    /* Every task ended exactly once; every call started also ended. */
    for (int i = 0; i < ntasks; i++)
        CHECK(ended[i] == T_DONE || ended[i] == T_DROPPED);
    CHECK(calls_started == calls_ended);
    CHECK(ar_closure_try_drop(&s.fn.base) == 0);
    CHECK(ar_closure_try_drop(&s.mut.base) == 0);
    for (int i = 0; i < 2; i++)
        if (s.tx_live[i])
            ar_mpsc_tx_drop(&s.tx[i]);
    ar_mpsc_rx_drop(&chan_rx);
    chan_rx_live = false;
    for (int i = 0; i < NNOTIFY; i++)
        CHECK(ar_notify_destroy(&notifies[i]) == 0);
    return 0;
}
