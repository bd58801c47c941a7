/*
 * examples/closures/async_fn.c - the AsyncFn greeter of "Understanding rust
 * async closures", with its `move` capture, its reference futures (any
 * number at once, on any worker) and its value future.
 *
 *     let hello = "Hello ".to_owned();
 *     let async_greeter_closure = async move |world| {
 *         tokio::time::sleep(Duration::from_secs(1)).await;
 *         String::new() + &hello + world
 *     };
 *     assert_eq!("Hello world!", async_greeter_closure("world!").await);
 *     assert_eq!("Hello world!", async_greeter_closure("world!").await);
 *
 * Run: build/examples/closures/async_fn
 */
#include <asyncrt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nap.h"

/* The captures: `move` copies `hello` into the closure (AsyncGreeterStruct). */
typedef struct greeter_env {
    char hello[16];
} greeter_env;

/* One call's own state: the argument, what lives across the await, the
 * output (AsyncGreeterStructRefFuture minus the captures). */
typedef struct greeter_frame {
    ar_co co;
    const char *arg; /* world */
    nap sleep;
    char out[32];
} greeter_frame;

static void greeter_frame_drop(greeter_frame *f) { nap_drop(&f->sleep); }

/* AR_FN: many calls may read the environment at once, so the body gets it
 * const, as AsyncFn::async_call gets &self. */
AR_CLOSURE(greeter, AR_FN, greeter_env, greeter_frame, greeter_body, greeter_frame_drop, NULL);

static ar_poll greeter_body(const greeter_env *env, greeter_frame *self, ar_cx *cx)
{
    AR_BEGIN(&self->co);
    nap_init(&self->sleep, 100); /* the article sleeps 1 s; 100 ms is enough */
    AR_AWAIT(nap_poll(&self->sleep, cx));
    snprintf(self->out, sizeof self->out, "%s%s", env->hello, self->arg);
    AR_END;
}

/* ------------------------------------------------------------------------
 * The walkthrough, as one coroutine run by ar_block_on.
 * --------------------------------------------------------------------- */
enum { TASKS = 4 };

typedef struct walk {
    ar_co co;
    greeter g;                /* the closure, embedded by value */
    greeter_ref_fut a, b;     /* reference futures (CallRefFuture) */
    greeter_val_fut once;     /* a value future (CallOnceFuture) */
    ar_join tasks[TASKS];
    int i, res, rc;
    char buf[32];
    int failures;
} walk;

static const char *const worlds[TASKS] = {"world!", "Rustaceans!", "C!", "workers!"};

static void expect(walk *w, bool ok, const char *what)
{
    if (!ok) {
        printf("  UNEXPECTED: %s\n", what);
        w->failures++;
    }
}

static ar_poll walk_poll(void *p, ar_cx *cx)
{
    walk *self = p;
    uint32_t n;
    AR_BEGIN(&self->co);
    self->g = AR_CLOSURE_NEW(greeter, {"Hello "});

    printf("1. called twice, one after the other (reference futures):\n");
    expect(self, ar_call(&self->g, &self->a, "world!") == 0, "first call");
    AR_AWAIT(greeter_poll(&self->a, cx));
    printf("   %s\n", self->a.frame.out);
    expect(self, ar_call(&self->g, &self->a, "world!") == 0, "second call");
    AR_AWAIT(greeter_poll(&self->a, cx));
    printf("   %s\n", self->a.frame.out);
    expect(self, !strcmp(self->a.frame.out, "Hello world!"), "output");

    printf("2. called twice at once: both futures borrow `greeter` shared\n");
    expect(self, ar_call(&self->g, &self->a, "world!") == 0, "call a");
    expect(self, ar_call(&self->g, &self->b, "Rustaceans!") == 0, "call b");
    ar_borrow_inspect(&self->g.base.borrow, &n, NULL);
    printf("   shared borrows of greeter while both are in flight: %u\n", n);
    expect(self, n == 2, "two shared borrows");
    AR_AWAIT(greeter_poll(&self->a, cx));
    AR_AWAIT(greeter_poll(&self->b, cx));
    printf("   %s / %s\n", self->a.frame.out, self->b.frame.out);

    printf("3. called from %d tasks on the runtime's workers (ar_spawn_call):\n", TASKS);
    for (self->i = 0; self->i < TASKS; self->i++)
        expect(self, ar_spawn_call(NULL, &self->g, &self->tasks[self->i], worlds[self->i]) == 0,
               "spawn call");
    for (self->i = 0; self->i < TASKS; self->i++) {
        AR_AWAIT(ar_join_poll(&self->tasks[self->i], cx, self->buf, sizeof self->buf,
                              &self->res));
        printf("   task %d: %s\n", self->i, self->res == 0 ? self->buf : ar_strerror(self->res));
    }
    expect(self, ar_borrow_inspect(&self->g.base.borrow, NULL, NULL) == AR_BORROW_FREE,
           "every borrow given back");

    printf("4. call_once: the value future takes `hello` with it (CallOnceFuture)\n");
    expect(self, ar_call_once(&self->g, &self->once, "world!") == 0, "call_once");
    AR_AWAIT(greeter_poll(&self->once, cx));
    printf("   %s\n", self->once.frame.out);
    printf("   ...and the closure is moved: calling it again fails like E0382:\n");
    self->rc = ar_call(&self->g, &self->a, "world!");
    expect(self, self->rc == AR_EMOVED, "call after call_once");
    printf("%s", ar_borrow_last_error()->text);
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
    static walk w; /* zeroed */
    rc = ar_block_on(rt, &walk_vt, &w);
    ar_rt_free(rt);
    if (rc < 0 || w.failures) {
        fprintf(stderr, "async_fn: %s, %d unexpected results\n", ar_strerror(rc), w.failures);
        return 1;
    }
    printf("ok\n");
    return 0;
}
