/*
 * examples/closures/call_twice.c - "Thoughts on async closures": a generic
 * caller that takes any AsyncFnMut, and calls it twice.
 *
 *     async fn call_twice_async(mut op: impl AsyncFnMut(&str)) {
 *         op("Hello").await;
 *         op("Rustaceans").await;
 *     }
 *     let mut buf = String::new();
 *     call_twice_async(async |s| buf.push_str(s)).await;   // "HelloRustaceans"
 *
 * The article's point: a closure that returns a future can only hand out
 * borrows of its captures if each call LENDS them (AsyncFnMut's
 * CallRefFuture<'_>).  Here each call's future borrows the closure until it
 * completes; the generic caller sees only `ar_closure *` and a storage
 * buffer, and works for AR_MUT and AR_FN closures alike.  An AR_ONCE
 * closure is refused, as `impl AsyncFnMut` refuses an AsyncFnOnce.
 * Run: build/examples/closures/call_twice
 */
#include <asyncrt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nap.h"

/* ------------------------------------------------------------------------
 * The generic caller: a future over any MUT-or-FN closure taking a string.
 * --------------------------------------------------------------------- */
typedef struct call_twice_async {
    ar_co co;
    ar_closure *op;
    const char *arg;
    AR_CALL_STORAGE(192) call; /* the call's future, by value */
    int out;                   /* 0, or why a call could not start */
} call_twice_async;

static ar_poll call_twice_poll(void *p, ar_cx *cx)
{
    static const char *const words[2] = {"Hello", "Rustaceans"};
    call_twice_async *self = p;
    AR_BEGIN(&self->co);
    self->arg = words[0];
    self->out = ar_closure_call(self->op, AR_MUT, &self->call, &self->arg); /* op("Hello") */
    if (self->out)
        AR_RETURN();
    AR_AWAIT(ar_call_poll(&self->call, cx));
    self->arg = words[1];
    self->out = ar_closure_call(self->op, AR_MUT, &self->call, &self->arg); /* op("Rustaceans") */
    if (self->out)
        AR_RETURN();
    AR_AWAIT(ar_call_poll(&self->call, cx));
    AR_END;
}

/* Dropped half-way: drop the call in flight (gives its borrow back). */
static void call_twice_drop(void *p) { ar_call_drop(&((call_twice_async *)p)->call); }

static const ar_future_vt call_twice_vt =
    AR_FUTURE_VT(call_twice_async, call_twice_poll, call_twice_drop, out);

/* ------------------------------------------------------------------------
 * async |s| buf.push_str(s): AR_MUT, captures &mut buf
 * --------------------------------------------------------------------- */
typedef struct string64 {
    char s[64];
} string64;

typedef AR_CELL(string64) string_cell;

typedef struct push_env {
    ar_loan buf; /* &mut buf */
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

/* ------------------------------------------------------------------------
 * async move |s| println!("{greeting}, {s}"): AR_FN, captures by value
 * --------------------------------------------------------------------- */
typedef struct say_env {
    const char *greeting;
} say_env;

typedef struct say_frame {
    ar_co co;
    const char *arg;
    ar_unit out;
} say_frame;

AR_CLOSURE(say, AR_FN, say_env, say_frame, say_body, NULL, NULL);

static ar_poll say_body(const say_env *env, say_frame *self, ar_cx *cx)
{
    (void)cx;
    AR_BEGIN(&self->co);
    printf("   say: %s, %s\n", env->greeting, self->arg);
    AR_END;
}

/* ------------------------------------------------------------------------
 * async move |s| { drop(token); ... }: AR_ONCE
 * --------------------------------------------------------------------- */
typedef struct once_env {
    int token;
} once_env;

typedef struct once_frame {
    ar_co co;
    const char *arg;
    ar_unit out;
} once_frame;

AR_CLOSURE(consume, AR_ONCE, once_env, once_frame, once_body, NULL, NULL);

static ar_poll once_body(once_env *env, once_frame *self, ar_cx *cx)
{
    (void)cx;
    AR_BEGIN(&self->co);
    printf("   consume: %s (token %d used up)\n", self->arg, env->token);
    env->token = 0;
    AR_END;
}

/* ------------------------------------------------------------------------ */
typedef struct walk {
    ar_co co;
    string_cell buf;
    push_str pusher;
    say sayer;
    consume once;
    call_twice_async twice;
    int failures;
} walk;

static ar_poll walk_poll(void *p, ar_cx *cx)
{
    walk *self = p;
    string64 got;
    AR_BEGIN(&self->co);
    ar_cell_init(&self->buf, "buf");
    self->buf.value = (string64){""};

    printf("1. call_twice_async(async |s| buf.push_str(s))   [AR_MUT]\n");
    self->pusher = AR_CLOSURE_NEW(push_str, {{0}});
    self->failures += ar_cell_borrow_mut(&self->buf, &self->pusher.env.buf) != 0;
    self->twice = (call_twice_async){.op = &self->pusher.base};
    AR_AWAIT(call_twice_poll(&self->twice, cx));
    self->failures += self->twice.out != 0;
    self->failures += ar_closure_drop(&self->pusher.base) != 0; /* gives buf back */
    self->failures += ar_cell_get(&self->buf, &got) != 0;
    printf("   buf = \"%s\"\n", got.s);
    self->failures += strcmp(got.s, "HelloRustaceans") != 0;

    printf("2. call_twice_async(async move |s| println!(...))   [AR_FN]\n");
    self->sayer = AR_CLOSURE_NEW(say, {"greetings"});
    self->twice = (call_twice_async){.op = &self->sayer.base};
    AR_AWAIT(call_twice_poll(&self->twice, cx));
    self->failures += self->twice.out != 0;

    printf("3. call_twice_async(an AsyncFnOnce closure)   [AR_ONCE: refused]\n");
    self->once = AR_CLOSURE_NEW(consume, {42});
    self->twice = (call_twice_async){.op = &self->once.base};
    AR_AWAIT(call_twice_poll(&self->twice, cx));
    printf("   call_twice_async -> %d (%s)\n%s", self->twice.out, ar_strerror(self->twice.out),
           ar_borrow_last_error()->text);
    self->failures += self->twice.out != AR_EKIND;
    printf("   ...and the closure was not touched: it still runs once\n");
    self->failures += ar_closure_call(&self->once.base, AR_ONCE, &self->twice.call,
                                      &(const char *){"once"}) != 0;
    AR_AWAIT(ar_call_poll(&self->twice.call, cx));
    AR_END;
}

static const ar_future_vt walk_vt = AR_FUTURE_VT_VOID(walk, walk_poll, NULL);

int main(void)
{
    /* This walkthrough makes borrow errors on purpose and prints them: have
     * them returned, even in a -Dborrow_abort=true build, unless the
     * environment asks otherwise (AR_BORROW_ABORT=1 shows abort mode). */
    if (!getenv("AR_BORROW_ABORT"))
        ar_borrow_set_mode(AR_BORROW_MODE_RETURN);
    ar_rt *rt;
    int rc = ar_rt_new(&rt, NULL);
    if (rc < 0) {
        fprintf(stderr, "ar_rt_new: %s\n", ar_strerror(rc));
        return 1;
    }
    static walk w;
    rc = ar_block_on(rt, &walk_vt, &w);
    ar_rt_free(rt);
    (void)call_twice_vt; /* how a task would run it: ar_spawn(rt, &call_twice_vt, ...) */
    if (rc < 0 || w.failures) {
        fprintf(stderr, "call_twice: %s, %d unexpected results\n", ar_strerror(rc), w.failures);
        return 1;
    }
    printf("ok\n");
    return 0;
}
