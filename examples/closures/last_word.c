/*
 * examples/closures/last_word.c - the async fn of "Understanding rust async
 * closures", desugared by hand exactly as the article does (LastWordFuture):
 *
 *     async fn last_word(sigh: &str) -> String {
 *         tokio::time::sleep(Duration::from_secs(1)).await;
 *         "last word: ".to_owned() + sigh
 *     }
 *     assert_eq!("last word: sigh!", last_word("sigh!").await);
 *
 * The Rust state enum (Initial, SleepAwaitPoint { future }) is the ar_co
 * resume point plus the sleep embedded by value: no Box, no allocation.
 *
 * Run: build/examples/closures/last_word
 */
#include <asyncrt.h>
#include <stdio.h>
#include <string.h>

#include "nap.h"

/* struct LastWordFuture<'sigh> { sigh: &'sigh str, state: ... } */
typedef struct last_word_fut {
    ar_co co;         /* which await point we are at */
    const char *sigh; /* the argument */
    nap sleep;        /* SleepAwaitPoint's future, by value */
    char out[32];     /* Output = String */
} last_word_fut;

static ar_poll last_word_poll(void *p, ar_cx *cx)
{
    last_word_fut *self = p;
    AR_BEGIN(&self->co);
    printf("last_word: sleeping (state Initial -> SleepAwaitPoint)\n");
    nap_init(&self->sleep, 1000);
    AR_AWAIT(nap_poll(&self->sleep, cx));
    printf("last_word: woke up, answering\n");
    snprintf(self->out, sizeof self->out, "last word: %s", self->sigh);
    AR_END;
}

static void last_word_drop(void *p) { nap_drop(&((last_word_fut *)p)->sleep); }

static const ar_future_vt last_word_vt =
    AR_FUTURE_VT(last_word_fut, last_word_poll, last_word_drop, out);

/* last_word(sigh): the future, not yet polled. */
static last_word_fut last_word(const char *sigh)
{
    return (last_word_fut){.sigh = sigh};
}

int main(void)
{
    ar_rt *rt;
    int rc = ar_rt_new(&rt, NULL);
    if (rc < 0) {
        fprintf(stderr, "ar_rt_new: %s\n", ar_strerror(rc));
        return 1;
    }
    last_word_fut f = last_word("sigh!");
    rc = ar_block_on(rt, &last_word_vt, &f); /* last_word("sigh!").await */
    ar_rt_free(rt);
    if (rc < 0) {
        fprintf(stderr, "ar_block_on: %s\n", ar_strerror(rc));
        return 1;
    }
    printf("%s\n", f.out);
    return strcmp(f.out, "last word: sigh!") == 0 ? 0 : 1;
}
