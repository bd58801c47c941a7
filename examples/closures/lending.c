/*
 * examples/closures/lending.c - why async closures LEND: the future of a
 * call borrows the closure, so the closure's state cannot change under it.
 *
 *     let mut counter = async |n| { sleep(1s).await; total += n; total };
 *     let a = counter(1);        // a borrows `counter` mutably ...
 *     let b = counter(2);        // error[E0499]: cannot borrow `counter`
 *                                //   as mutable more than once at a time
 *     a.await;                   // ... until it completes
 *     drop(counter);             // fine now; before a.await: error[E0505]
 *
 * Then the server story (DESIGN.md section 4): an AR_FN handler shared by
 * many tasks, and a shutdown that waits until their borrows have ended
 * before it frees the handler's environment.
 * Run: build/examples/closures/lending
 */
#include <asyncrt.h>
#include <stdio.h>
#include <stdlib.h>

#include "nap.h"

/* AR_MUT: each call changes the total it captured. */
typedef struct counter_env {
    int total;
} counter_env;

typedef struct counter_frame {
    ar_co co;
    int arg;
    nap sleep;
    int out;
} counter_frame;

static void counter_frame_drop(counter_frame *f) { nap_drop(&f->sleep); }

AR_CLOSURE(counter, AR_MUT, counter_env, counter_frame, counter_body, counter_frame_drop, NULL);

static ar_poll counter_body(counter_env *env, counter_frame *self, ar_cx *cx)
{
    AR_BEGIN(&self->co);
    nap_init(&self->sleep, 100);
    AR_AWAIT(nap_poll(&self->sleep, cx));
    env->total += self->arg;
    self->out = env->total;
    AR_END;
}

/* AR_FN: a request handler; its environment is shared by every call. */
typedef struct handler_env {
    const char *route;
    int status;
} handler_env;

typedef struct handler_frame {
    ar_co co;
    int arg; /* request id */
    nap sleep;
    int out; /* status */
} handler_frame;

static void handler_frame_drop(handler_frame *f) { nap_drop(&f->sleep); }

AR_CLOSURE(handler, AR_FN, handler_env, handler_frame, handler_body, handler_frame_drop, NULL);

static ar_poll handler_body(const handler_env *env, handler_frame *self, ar_cx *cx)
{
    AR_BEGIN(&self->co);
    nap_init(&self->sleep, 10);
    AR_AWAIT(nap_poll(&self->sleep, cx));
    self->out = env->status;
    AR_END;
}

enum { REQUESTS = 16 };

typedef struct walk {
    ar_co co;
    counter c;
    counter_ref_fut a, b;
    handler h;
    ar_join conns[REQUESTS];
    ar_yield_now y;
    int i, rc, res, status, busy_drops, failures;
} walk;

static ar_poll walk_poll(void *p, ar_cx *cx)
{
    walk *self = p;
    AR_BEGIN(&self->co);
    self->c = AR_CLOSURE_NEW(counter, {0});

    printf("1. let a = counter(1); let b = counter(2);\n");
    self->failures += ar_call_mut(&self->c, &self->a, 1) != 0;
    self->rc = ar_call_mut(&self->c, &self->b, 2);
    printf("%s", self->rc == AR_EBORROWED ? ar_borrow_last_error()->text : "UNEXPECTED\n");
    self->failures += self->rc != AR_EBORROWED;

    printf("\n2. drop(counter) while `a` is in flight:\n");
    self->rc = ar_closure_drop(&self->c.base);
    printf("%s", self->rc == AR_EBORROWED ? ar_borrow_last_error()->text : "UNEXPECTED\n");
    self->failures += self->rc != AR_EBORROWED;

    printf("\n3. a.await, then b = counter(2); b.await; drop(counter):\n");
    AR_AWAIT(counter_poll(&self->a, cx));
    self->failures += ar_call_mut(&self->c, &self->b, 2) != 0;
    AR_AWAIT(counter_poll(&self->b, cx));
    printf("   a -> %d, b -> %d\n", self->a.frame.out, self->b.frame.out);
    self->failures += self->b.frame.out != 3;
    self->rc = ar_closure_drop(&self->c.base);
    printf("   drop(counter) -> %d\n", self->rc);
    self->failures += self->rc != 0;

    printf("\n4. an AR_FN handler serving %d connections on the workers:\n", REQUESTS);
    self->h = AR_CLOSURE_NEW(handler, {"/", 200});
    for (self->i = 0; self->i < REQUESTS; self->i++)
        self->failures += ar_spawn_call(NULL, &self->h, &self->conns[self->i], self->i) != 0;
    /* Shutdown: the handler's environment may be freed only once no
     * connection borrows it any more. */
    while ((self->rc = ar_closure_try_drop(&self->h.base)) == AR_EBORROWED) {
        self->busy_drops++;
        AR_AWAIT(ar_yield_now_poll(&self->y, cx));
    }
    printf("   drop(handler) refused %s while connections ran; then -> %d\n",
           self->busy_drops ? "(AR_EBORROWED)" : "(never: they were quick)", self->rc);
    self->failures += self->rc != 0;
    for (self->i = 0; self->i < REQUESTS; self->i++) {
        AR_AWAIT(ar_join_poll(&self->conns[self->i], cx, &self->status, sizeof self->status,
                              &self->res));
        self->failures += self->res != 0 || self->status != 200;
    }
    printf("   every connection answered 200 before the handler was freed\n");
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
    if (rc < 0 || w.failures) {
        fprintf(stderr, "lending: %s, %d unexpected results\n", ar_strerror(rc), w.failures);
        return 1;
    }
    printf("ok\n");
    return 0;
}
