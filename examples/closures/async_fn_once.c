/*
 * examples/closures/async_fn_once.c - the AsyncFnOnce closure of
 * "Understanding rust async closures": it moves `last_word` in, and drops it
 * inside its body, so it can run only once.
 *
 *     let last_word = "last word: ".to_owned();
 *     let async_drop_closure = async |sigh| {
 *         tokio::time::sleep(Duration::from_secs(1)).await;
 *         let res = String::new() + &last_word + sigh;
 *         drop(last_word);
 *         res
 *     };
 *     // assert_eq!("last word: ".to_owned(), last_word);
 *     //   error[E0382]: borrow of moved value: `last_word`
 *     assert_eq!("last word: sigh!", async_drop_closure("sigh!").await);
 *     // assert_eq!("last word: sigh!", async_drop_closure("sigh!").await);
 *     //   error[E0382]: use of moved value: `async_drop_closure`
 *
 * Both commented-out lines compile here and fail at run time, with the
 * error Rust gives.  Run: build/examples/closures/async_fn_once
 */
#include <asyncrt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nap.h"

/* `last_word` is a String: a heap string in a cell (a variable the
 * closure can capture). */
typedef AR_CELL(char *) string_cell;

/* struct AsyncDropStruct { last_word: String } */
typedef struct drop_env {
    char *last_word; /* owned; the body drops it */
} drop_env;

typedef struct drop_frame {
    ar_co co;
    const char *arg; /* sigh */
    nap sleep;
    char out[32];
} drop_frame;

static void drop_env_drop(drop_env *env)
{
    free(env->last_word); /* NULL once the body dropped it */
    env->last_word = NULL;
}

static void drop_frame_drop(drop_frame *f) { nap_drop(&f->sleep); }

AR_CLOSURE(async_drop_closure, AR_ONCE, drop_env, drop_frame, drop_body, drop_frame_drop,
           drop_env_drop);

static ar_poll drop_body(drop_env *env, drop_frame *self, ar_cx *cx)
{
    AR_BEGIN(&self->co);
    nap_init(&self->sleep, 1000);
    AR_AWAIT(nap_poll(&self->sleep, cx));
    snprintf(self->out, sizeof self->out, "%s%s", env->last_word, self->arg);
    free(env->last_word); /* drop(last_word) */
    env->last_word = NULL;
    AR_END;
}

typedef struct walk {
    ar_co co;
    string_cell last_word;
    async_drop_closure c;
    async_drop_closure_val_fut call; /* CallOnceFuture: owns the env */
    int rc, failures;
} walk;

static ar_poll walk_poll(void *p, ar_cx *cx)
{
    walk *self = p;
    char *peek = NULL;
    AR_BEGIN(&self->co);
    ar_cell_init(&self->last_word, "last_word");
    self->last_word.value = strdup("last word: ");

    /* async |sigh| {...} uses last_word by value: the closure takes it. */
    self->c = AR_CLOSURE_NEW(async_drop_closure, {NULL});
    self->rc = ar_cell_take(&self->last_word, &self->c.env.last_word);
    printf("closure created: it moved `last_word` in (rc %d)\n", self->rc);
    self->failures += self->rc != 0;

    printf("\nreading `last_word` now:\n");
    self->rc = ar_cell_get(&self->last_word, &peek);
    printf("%s", self->rc == AR_EMOVED ? ar_borrow_last_error()->text : "UNEXPECTED\n");
    self->failures += self->rc != AR_EMOVED;

    printf("\nasync_drop_closure(\"sigh!\").await:\n");
    self->rc = ar_call_once(&self->c, &self->call, "sigh!");
    self->failures += self->rc != 0;
    AR_AWAIT(async_drop_closure_poll(&self->call, cx));
    printf("  -> \"%s\"\n", self->call.frame.out);
    self->failures += strcmp(self->call.frame.out, "last word: sigh!") != 0;

    printf("\nand once more:\n");
    self->rc = ar_call_once(&self->c, &self->call, "sigh!");
    printf("%s", self->rc == AR_EMOVED ? ar_borrow_last_error()->text : "UNEXPECTED\n");
    self->failures += self->rc != AR_EMOVED;

    printf("\nand `last_word` is still gone:\n");
    self->rc = ar_cell_get(&self->last_word, &peek);
    printf("%s", self->rc == AR_EMOVED ? ar_borrow_last_error()->text : "UNEXPECTED\n");
    self->failures += self->rc != AR_EMOVED;
    ar_closure_drop(&self->c.base); /* moved already: nothing left to free */
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
        fprintf(stderr, "async_fn_once: %s, %d unexpected results\n", ar_strerror(rc), w.failures);
        return 1;
    }
    printf("ok\n");
    return 0;
}
