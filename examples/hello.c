/*
 * examples/hello.c - the first program: a coroutine future that spawns
 * workers, sends each a number through a oneshot channel and adds up their
 * answers.  Run: build/examples/hello
 *
 * Remember the two rules of switch coroutines: locals do not survive an
 * AR_AWAIT (keep state in the struct), and no AR_AWAIT inside a switch.
 */
#include <asyncrt.h>
#include <stdio.h>

#define N 8

/* A task that receives x and returns x * x as its output. */
typedef struct square {
    ar_co co;
    ar_oneshot_rx rx;
    int x, res;
    int out; /* the output, read by the joiner */
} square;

static ar_poll square_poll(void *p, ar_cx *cx)
{
    square *self = p;
    AR_BEGIN(&self->co);
    AR_AWAIT(ar_oneshot_recv_poll(&self->rx, cx, &self->x, &self->res));
    self->out = self->res == 0 ? self->x * self->x : -1;
    AR_END;
}
static const ar_future_vt square_vt = AR_FUTURE_VT(square, square_poll, NULL, out);

/* The main future: everything that lives across an await is a member. */
typedef struct sum_of_squares {
    ar_co co;
    ar_join tasks[N];
    int i, res, value;
    int out;
} sum_of_squares;

static ar_poll sum_poll(void *p, ar_cx *cx)
{
    sum_of_squares *self = p;
    AR_BEGIN(&self->co);
    for (self->i = 0; self->i < N; self->i++) {
        square sq = {0};
        ar_oneshot_tx tx;
        if (ar_oneshot_new(&tx, &sq.rx, sizeof(int)) < 0)
            AR_RETURN();
        if (ar_spawn(NULL, &square_vt, &sq, &self->tasks[self->i]) < 0) {
            ar_oneshot_tx_drop(&tx);
            ar_oneshot_rx_drop(&sq.rx);
            AR_RETURN();
        }
        int x = self->i + 1; /* a local is fine: it does not cross an await */
        ar_oneshot_send(&tx, &x);
    }
    for (self->i = 0; self->i < N; self->i++) {
        AR_AWAIT(ar_join_poll(&self->tasks[self->i], cx, &self->value, sizeof self->value,
                              &self->res));
        if (self->res == 0)
            self->out += self->value;
    }
    AR_END;
}
static const ar_future_vt sum_vt = AR_FUTURE_VT(sum_of_squares, sum_poll, NULL, out);

int main(void)
{
    ar_rt *rt;
    int rc = ar_rt_new(&rt, NULL); /* one worker per CPU */
    if (rc < 0) {
        fprintf(stderr, "ar_rt_new: %s\n", ar_strerror(rc));
        return 1;
    }
    sum_of_squares main_fut = {0};
    rc = ar_block_on(rt, &sum_vt, &main_fut);
    if (rc < 0) {
        fprintf(stderr, "ar_block_on: %s\n", ar_strerror(rc));
        return 1;
    }
    printf("sum of squares 1..%d = %d (expected %d)\n", N, main_fut.out, N * (N + 1) * (2 * N + 1) / 6);
    ar_rt_free(rt);
    return main_fut.out == N * (N + 1) * (2 * N + 1) / 6 ? 0 : 1;
}
