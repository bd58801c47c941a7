/*
 * tests/closures/test_seeds.c - every example of the seed articles
 * (../shared/seeds), as assertions: last_word, the AsyncFnOnce drop
 * closure, the AsyncFnMut pusher, the AsyncFn greeter (value and reference
 * futures, called twice and concurrently), call_twice_async, and the
 * lending cases (E0499 for a second call_mut while the first future lives,
 * E0505 for dropping a closure with a call in flight).  Each compile error
 * of the articles is checked as the run-time error with its Rust code.
 * examples/closures/ has the same programs as walkthroughs.
 */
#include "closure_helpers.h"
#include "nap.h"

/* ------------------------------------------------------------------------
 * last_word (an async fn, desugared: LastWordFuture)
 * --------------------------------------------------------------------- */
typedef struct last_word_fut {
    ar_co co;
    const char *sigh;
    nap sleep;
    char out[32];
} last_word_fut;

static ar_poll last_word_poll(void *p, ar_cx *cx)
{
    last_word_fut *self = p;
    AR_BEGIN(&self->co);
    nap_init(&self->sleep, 10); /* the article sleeps 1 s */
    AR_AWAIT(nap_poll(&self->sleep, cx));
    snprintf(self->out, sizeof self->out, "last word: %s", self->sigh);
    AR_END;
}

static void last_word_drop(void *p) { nap_drop(&((last_word_fut *)p)->sleep); }

static const ar_future_vt last_word_vt =
    AR_FUTURE_VT(last_word_fut, last_word_poll, last_word_drop, out);

Test(seeds, last_word, .timeout = 20)
{
    ar_rt *rt = t_rt_mt(2);
    last_word_fut f = {.sigh = "sigh!"};
    T_OK(ar_block_on(rt, &last_word_vt, &f));
    T_STREQ(f.out, "last word: sigh!");
    /* And the same future polled by hand: pending across its await. */
    last_word_fut g = {.sigh = "sigh!"};
    cr_assert(t_is(t_drive(last_word_poll, &g, 10) >= 2));
    T_STREQ(g.out, "last word: sigh!");
    ar_rt_free(rt);
}

/* ------------------------------------------------------------------------
 * AsyncFnOnce: async |sigh| { sleep; let res = last_word + sigh; drop(last_word); res }
 * --------------------------------------------------------------------- */
typedef AR_CELL(char *) string_cell;

typedef struct drop_env {
    char *last_word;
} drop_env;

typedef struct drop_frame {
    ar_co co;
    const char *arg;
    nap sleep;
    char out[32];
} drop_frame;

static _Atomic int g_drop_env_drops;

static void drop_env_drop(drop_env *env)
{
    free(env->last_word);
    env->last_word = NULL;
    atomic_fetch_add(&g_drop_env_drops, 1);
}

static void drop_frame_drop(drop_frame *f) { nap_drop(&f->sleep); }

AR_CLOSURE(async_drop_closure, AR_ONCE, drop_env, drop_frame, drop_body, drop_frame_drop,
           drop_env_drop);

static ar_poll drop_body(drop_env *env, drop_frame *self, ar_cx *cx)
{
    AR_BEGIN(&self->co);
    nap_init(&self->sleep, 10); /* the article sleeps 1 s */
    AR_AWAIT(nap_poll(&self->sleep, cx));
    snprintf(self->out, sizeof self->out, "%s%s", env->last_word, self->arg);
    free(env->last_word); /* drop(last_word) */
    env->last_word = NULL;
    AR_END;
}

Test(seeds, async_fn_once_drop_closure, .timeout = 20)
{
    string_cell last_word;
    T_OK(ar_cell_init(&last_word, "last_word"));
    last_word.value = strdup("last word: ");
    async_drop_closure c = AR_CLOSURE_NEW(async_drop_closure, {NULL});
    T_OK(ar_cell_take(&last_word, &c.env.last_word)); /* captured by move */

    /* assert_eq!("last word: ".to_owned(), last_word);  E0382 */
    char *peek = NULL;
    T_EQ_INT(ar_cell_get(&last_word, &peek), AR_EMOVED);
    T_DIAG("E0382", "borrow of moved value: `last_word`");

    async_drop_closure_val_fut f;
    T_OK(ar_call_once(&c, &f, "sigh!"));
    t_drive(async_drop_closure_poll, &f, 10);
    T_STREQ(f.frame.out, "last word: sigh!");
    T_EQ_INT(atomic_load(&g_drop_env_drops), 1);

    /* Still not accessible, and the closure cannot run again: E0382. */
    T_EQ_INT(ar_cell_get(&last_word, &peek), AR_EMOVED);
    T_EQ_INT(ar_call_once(&c, &f, "sigh!"), AR_EMOVED);
    T_DIAG("E0382", "use of moved value: `async_drop_closure`");
    T_OK(ar_closure_drop(&c.base));
    T_EQ_INT(atomic_load(&g_drop_env_drops), 1); /* nothing freed twice */
}

/* ------------------------------------------------------------------------
 * AsyncFnMut: async |x| { sleep; v.push(x) }   (captures &mut v)
 * --------------------------------------------------------------------- */
typedef struct int_vec {
    int len;
    int items[8];
} int_vec;

typedef AR_CELL(int_vec) vec_cell;

typedef struct pusher_env {
    ar_loan v;
} pusher_env;

typedef struct pusher_frame {
    ar_co co;
    int arg;
    nap sleep;
    ar_unit out;
} pusher_frame;

static void pusher_env_drop(pusher_env *env) { ar_loan_release(&env->v); }

static void pusher_frame_drop(pusher_frame *f) { nap_drop(&f->sleep); }

AR_CLOSURE(async_pusher_closure, AR_MUT, pusher_env, pusher_frame, pusher_body, pusher_frame_drop,
           pusher_env_drop);

static ar_poll pusher_body(pusher_env *env, pusher_frame *self, ar_cx *cx)
{
    AR_BEGIN(&self->co);
    nap_init(&self->sleep, 10); /* the article sleeps 1 s */
    AR_AWAIT(nap_poll(&self->sleep, cx));
    int_vec *v = env->v.ptr;
    v->items[v->len++] = self->arg;
    AR_END;
}

Test(seeds, async_fn_mut_pusher, .timeout = 20)
{
    vec_cell v;
    T_OK(ar_cell_init(&v, "v"));
    v.value = (int_vec){0};
    async_pusher_closure c = AR_CLOSURE_NEW(async_pusher_closure, {{0}});
    int capture_line = __LINE__ + 1;
    T_OK(ar_cell_borrow_mut(&v, &c.env.v));

    async_pusher_closure_ref_fut f;
    T_OK(ar_call_mut(&c, &f, 5));
    t_drive(async_pusher_closure_poll, &f, 10);
    T_OK(ar_call_mut(&c, &f, 2));
    t_drive(async_pusher_closure_poll, &f, 10);

    /* `v` is unreachable while the closure holds &mut v. */
    int_vec seen = {0};
    T_EQ_INT(ar_cell_get(&v, &seen), AR_EBORROWED);
    T_DIAG("E0502", "cannot borrow `v` as immutable because it is also borrowed as mutable");
    T_EQ_INT(ar_borrow_last_error()->held->line, capture_line);
    T_EQ_INT(ar_cell_set(&v, ((int_vec){0})), AR_EBORROWED);
    T_DIAG("E0506", "cannot assign to `v`");

    T_OK(ar_closure_drop(&c.base));
    T_OK(ar_cell_get(&v, &seen)); /* assert_eq!(vec![5, 2], v) */
    T_EQ_INT(seen.len, 2);
    T_EQ_INT(seen.items[0], 5);
    T_EQ_INT(seen.items[1], 2);
}

/* ------------------------------------------------------------------------
 * AsyncFn: async move |world| { sleep; hello + world }
 * --------------------------------------------------------------------- */
typedef struct greeter_env {
    char hello[16];
} greeter_env;

typedef struct greeter_frame {
    ar_co co;
    const char *arg;
    nap sleep;
    char out[32];
} greeter_frame;

static void greeter_frame_drop(greeter_frame *f) { nap_drop(&f->sleep); }

AR_CLOSURE(async_greeter_closure, AR_FN, greeter_env, greeter_frame, greeter_body,
           greeter_frame_drop, NULL);

static ar_poll greeter_body(const greeter_env *env, greeter_frame *self, ar_cx *cx)
{
    AR_BEGIN(&self->co);
    nap_init(&self->sleep, 10); /* the article sleeps 1 s */
    AR_AWAIT(nap_poll(&self->sleep, cx));
    snprintf(self->out, sizeof self->out, "%s%s", env->hello, self->arg);
    AR_END;
}

Test(seeds, async_fn_greeter_twice_and_concurrently, .timeout = 20)
{
    async_greeter_closure g = AR_CLOSURE_NEW(async_greeter_closure, {"Hello "});
    async_greeter_closure_ref_fut a, b; /* AsyncGreeterStructRefFuture */

    /* Called twice. */
    for (int i = 0; i < 2; i++) {
        T_OK(ar_call(&g, &a, "world!"));
        t_drive(async_greeter_closure_poll, &a, 10);
        T_STREQ(a.frame.out, "Hello world!");
    }

    /* Concurrently: both reference futures alive, sharing the borrow. */
    T_OK(ar_call(&g, &a, "world!"));
    T_OK(ar_call(&g, &b, "Rustaceans!"));
    T_EQ_INT(t_shared_count(&g.base.borrow), 2);
    cr_assert(eq(int, t_poll1(async_greeter_closure_poll, &a), AR_PENDING));
    cr_assert(eq(int, t_poll1(async_greeter_closure_poll, &b), AR_PENDING));
    t_drive(async_greeter_closure_poll, &b, 10);
    t_drive(async_greeter_closure_poll, &a, 10);
    T_STREQ(a.frame.out, "Hello world!");
    T_STREQ(b.frame.out, "Hello Rustaceans!");

    /* On the workers of a runtime. */
    ar_rt *rt = t_rt_mt(2);
    ar_join h[6];
    for (int i = 0; i < 6; i++)
        T_OK(ar_spawn_call(rt, &g, &h[i], i % 2 ? "world!" : "Rustaceans!"));
    for (int i = 0; i < 6; i++) {
        char out[32];
        T_OK(ar_join_wait(&h[i], out, sizeof out));
        T_STREQ(out, i % 2 ? "Hello world!" : "Hello Rustaceans!");
    }
    ar_rt_free(rt);

    /* The value future (AsyncGreeterStructValFuture): call_once moves hello
     * into the future; the closure is moved after. */
    async_greeter_closure_val_fut v;
    T_OK(ar_call_once(&g, &v, "world!"));
    t_drive(async_greeter_closure_poll, &v, 10);
    T_STREQ(v.frame.out, "Hello world!");
    T_EQ_INT(ar_call(&g, &a, "world!"), AR_EMOVED);
    T_DIAG("E0382", "`async_greeter_closure`");
}

/* ------------------------------------------------------------------------
 * call_twice_async(op: impl AsyncFnMut(&str))
 * --------------------------------------------------------------------- */
typedef struct call_twice_async {
    ar_co co;
    ar_closure *op;
    const char *arg;
    AR_CALL_STORAGE(192) call;
    int out;
} call_twice_async;

static ar_poll call_twice_poll(void *p, ar_cx *cx)
{
    call_twice_async *self = p;
    AR_BEGIN(&self->co);
    self->arg = "Hello";
    self->out = ar_closure_call(self->op, AR_MUT, &self->call, &self->arg);
    if (self->out)
        AR_RETURN();
    AR_AWAIT(ar_call_poll(&self->call, cx));
    self->arg = "Rustaceans";
    self->out = ar_closure_call(self->op, AR_MUT, &self->call, &self->arg);
    if (self->out)
        AR_RETURN();
    AR_AWAIT(ar_call_poll(&self->call, cx));
    AR_END;
}

static void call_twice_drop(void *p) { ar_call_drop(&((call_twice_async *)p)->call); }

static const ar_future_vt call_twice_vt =
    AR_FUTURE_VT(call_twice_async, call_twice_poll, call_twice_drop, out);

typedef struct string64 {
    char s[64];
} string64;

typedef AR_CELL(string64) buf_cell;

typedef struct push_env {
    ar_loan buf;
} push_env;

typedef struct push_frame {
    ar_co co;
    const char *arg;
    nap sleep;
    ar_unit out;
} push_frame;

static void push_env_drop(push_env *env) { ar_loan_release(&env->buf); }

static void push_frame_drop(push_frame *f) { nap_drop(&f->sleep); }

AR_CLOSURE(push_str, AR_MUT, push_env, push_frame, push_body, push_frame_drop, push_env_drop);

static ar_poll push_body(push_env *env, push_frame *self, ar_cx *cx)
{
    AR_BEGIN(&self->co);
    nap_init(&self->sleep, 10);
    AR_AWAIT(nap_poll(&self->sleep, cx));
    string64 *buf = env->buf.ptr;
    strncat(buf->s, self->arg, sizeof buf->s - strlen(buf->s) - 1);
    AR_END;
}

/* An FN closure over &str that counts its calls through a shared atomic. */
typedef struct count_env {
    _Atomic int *calls;
} count_env;

typedef struct count_frame {
    ar_co co;
    const char *arg;
    ar_unit out;
} count_frame;

AR_CLOSURE(count_calls, AR_FN, count_env, count_frame, count_body, NULL, NULL);

static ar_poll count_body(const count_env *env, count_frame *self, ar_cx *cx)
{
    (void)cx;
    AR_BEGIN(&self->co);
    atomic_fetch_add(env->calls, 1);
    AR_END;
}

Test(seeds, call_twice_async_takes_mut_and_fn_rejects_once, .timeout = 20)
{
    ar_rt *rt = t_rt_mt(2);

    /* let mut buf = String::new(); call_twice_async(async |s| buf.push_str(s)) */
    buf_cell buf;
    T_OK(ar_cell_init(&buf, "buf"));
    buf.value = (string64){""};
    push_str p = AR_CLOSURE_NEW(push_str, {{0}});
    T_OK(ar_cell_borrow_mut(&buf, &p.env.buf));
    call_twice_async t = {.op = &p.base};
    T_OK(ar_block_on(rt, &call_twice_vt, &t));
    T_OK(t.out);
    T_OK(ar_closure_drop(&p.base));
    string64 got;
    T_OK(ar_cell_get(&buf, &got));
    T_STREQ(got.s, "HelloRustaceans");

    /* An AR_FN closure works too (FN's call_mut is its call). */
    static _Atomic int calls;
    count_calls cc = AR_CLOSURE_NEW(count_calls, {&calls});
    t = (call_twice_async){.op = &cc.base};
    T_OK(ar_block_on(rt, &call_twice_vt, &t));
    T_OK(t.out);
    T_EQ_INT(atomic_load(&calls), 2);

    /* An AR_ONCE closure is refused before anything happens. */
    static _Atomic int drops;
    atomic_store(&g_drop_env_drops, 0);
    async_drop_closure once = AR_CLOSURE_NEW(async_drop_closure, {strdup("x")});
    (void)drops;
    t = (call_twice_async){.op = &once.base};
    T_OK(ar_block_on(rt, &call_twice_vt, &t));
    T_EQ_INT(t.out, AR_EKIND);
    cr_assert(eq(int, ar_borrow_inspect(&once.base.borrow, NULL, NULL), AR_BORROW_FREE));
    T_OK(ar_closure_drop(&once.base)); /* frees its string */
    T_EQ_INT(atomic_load(&g_drop_env_drops), 1);
    ar_rt_free(rt);
}

/* ------------------------------------------------------------------------
 * Lending: a second call_mut while the first future lives (E0499); drop
 * while a call is in flight (E0505), fine once it ended.
 * --------------------------------------------------------------------- */
Test(seeds, lending_E0499_and_E0505, .timeout = 20)
{
    vec_cell v;
    T_OK(ar_cell_init(&v, "v"));
    v.value = (int_vec){0};
    async_pusher_closure c = AR_CLOSURE_NEW(async_pusher_closure, {{0}});
    T_OK(ar_cell_borrow_mut(&v, &c.env.v));
    async_pusher_closure_ref_fut first, second;
    int first_line = __LINE__ + 1;
    T_OK(ar_call_mut(&c, &first, 5));
    cr_assert(eq(int, t_poll1(async_pusher_closure_poll, &first), AR_PENDING));

    int second_line = __LINE__ + 1;
    T_EQ_INT(ar_call_mut(&c, &second, 2), AR_EBORROWED);
    T_DIAG("E0499", "cannot borrow `async_pusher_closure` as mutable more than once at a time");
    T_EQ_INT(ar_borrow_last_error()->held->line, first_line);
    T_EQ_INT(ar_borrow_last_error()->at->line, second_line);

    T_EQ_INT(ar_closure_drop(&c.base), AR_EBORROWED);
    T_DIAG("E0505", "cannot move out of `async_pusher_closure` because it is borrowed");
    T_EQ_INT(ar_borrow_last_error()->held->line, first_line);
    /* Nothing was freed: `v` is still held, the call completes. */
    cr_assert(eq(int, ar_cell_state(&v.cell, NULL), AR_BORROW_EXCLUSIVE));
    t_drive(async_pusher_closure_poll, &first, 10);

    T_OK(ar_call_mut(&c, &second, 2));
    t_drive(async_pusher_closure_poll, &second, 10);
    T_OK(ar_closure_drop(&c.base));
    int_vec seen;
    T_OK(ar_cell_get(&v, &seen));
    T_EQ_INT(seen.len, 2);
}

/* The same rule holds for an FN closure called from tasks: drop fails
 * while any task's call borrows it. */
Test(seeds, drop_waits_for_spawned_calls, .timeout = 20)
{
    ar_rt *rt = t_rt_mt(2);
    async_greeter_closure g = AR_CLOSURE_NEW(async_greeter_closure, {"Hi "});
    ar_join h[32];
    for (int i = 0; i < 32; i++)
        T_OK(ar_spawn_call(rt, &g, &h[i], "there"));
    int rc;
    while ((rc = ar_closure_try_drop(&g.base)) == AR_EBORROWED)
        sched_yield();
    T_OK(rc);
    for (int i = 0; i < 32; i++) {
        char out[32];
        /* Every call's body had ended before the drop could succeed (the
         * task itself may still be finishing up: join waits for that). */
        T_OK(ar_join_wait(&h[i], out, sizeof out));
        T_STREQ(out, "Hi there");
    }
    ar_rt_free(rt);
}
