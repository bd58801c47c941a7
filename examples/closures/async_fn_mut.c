/*
 * examples/closures/async_fn_mut.c - the AsyncFnMut pusher of
 * "Understanding rust async closures": it captures `v` by mutable
 * reference, so `v` is out of reach while the closure exists.
 *
 *     let mut v = vec![];
 *     let mut async_pusher_closure = async |x| {
 *         tokio::time::sleep(Duration::from_secs(1)).await;
 *         v.push(x);
 *     };
 *     async_pusher_closure(5).await;
 *     async_pusher_closure(2).await;
 *     assert_eq!(vec![5, 2], v);
 *
 * Rust ends the borrow after the closure's last use; C has no such
 * analysis, so the borrow ends when the closure is dropped.
 * Run: build/examples/closures/async_fn_mut
 */
#include <asyncrt.h>
#include <stdio.h>
#include <stdlib.h>

#include "nap.h"

typedef struct int_vec {
    int len;
    int items[8];
} int_vec;

typedef AR_CELL(int_vec) vec_cell;

/* struct AsyncPusherStruct<'v> { v: &'v mut Vec<i32> } */
typedef struct pusher_env {
    ar_loan v; /* &mut v, held for the closure's life */
} pusher_env;

typedef struct pusher_frame {
    ar_co co;
    int arg; /* x */
    nap sleep;
    ar_unit out; /* () */
} pusher_frame;

/* Dropping the closure gives `v` back. */
static void pusher_env_drop(pusher_env *env) { ar_loan_release(&env->v); }

static void pusher_frame_drop(pusher_frame *f) { nap_drop(&f->sleep); }

AR_CLOSURE(async_pusher_closure, AR_MUT, pusher_env, pusher_frame, pusher_body,
           pusher_frame_drop, pusher_env_drop);

static ar_poll pusher_body(pusher_env *env, pusher_frame *self, ar_cx *cx)
{
    AR_BEGIN(&self->co);
    nap_init(&self->sleep, 1000);
    AR_AWAIT(nap_poll(&self->sleep, cx));
    int_vec *v = env->v.ptr; /* safety: our exclusive loan */
    if (v->len < 8)
        v->items[v->len++] = self->arg; /* v.push(x) */
    AR_END;
}

typedef struct walk {
    ar_co co;
    vec_cell v;
    async_pusher_closure pusher;
    async_pusher_closure_ref_fut call; /* CallRefFuture: borrows the closure */
    int rc, failures;
} walk;

static ar_poll walk_poll(void *p, ar_cx *cx)
{
    walk *self = p;
    int_vec seen;
    AR_BEGIN(&self->co);
    ar_cell_init(&self->v, "v");
    self->v.value = (int_vec){0}; /* let mut v = vec![]; */

    self->pusher = AR_CLOSURE_NEW(async_pusher_closure, {{0}});
    self->rc = ar_cell_borrow_mut(&self->v, &self->pusher.env.v); /* captures &mut v */
    printf("closure created: it holds `v` exclusively (rc %d)\n", self->rc);
    self->failures += self->rc != 0;

    printf("async_pusher_closure(5).await\n");
    self->failures += ar_call_mut(&self->pusher, &self->call, 5) != 0;
    AR_AWAIT(async_pusher_closure_poll(&self->call, cx));
    printf("async_pusher_closure(2).await\n");
    self->failures += ar_call_mut(&self->pusher, &self->call, 2) != 0;
    AR_AWAIT(async_pusher_closure_poll(&self->call, cx));

    printf("\nreading `v` while the closure still exists:\n");
    self->rc = ar_cell_get(&self->v, &seen);
    printf("%s", self->rc == AR_EBORROWED ? ar_borrow_last_error()->text : "UNEXPECTED\n");
    self->failures += self->rc != AR_EBORROWED;

    printf("\ndrop(async_pusher_closure); then reading `v`:\n");
    self->failures += ar_closure_drop(&self->pusher.base) != 0;
    self->rc = ar_cell_get(&self->v, &seen);
    self->failures += self->rc != 0;
    if (self->rc == 0) {
        printf("v = [");
        for (int i = 0; i < seen.len; i++)
            printf(i ? ", %d" : "%d", seen.items[i]);
        printf("]\n");
        self->failures += !(seen.len == 2 && seen.items[0] == 5 && seen.items[1] == 2);
    }
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
        fprintf(stderr, "async_fn_mut: %s, %d unexpected results\n", ar_strerror(rc), w.failures);
        return 1;
    }
    printf("ok\n");
    return 0;
}
