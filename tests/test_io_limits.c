/*
 * tests/test_io_limits.c - the ring's limits: more operations prepared in
 * one round than the submission queue has entries (1,024), and more
 * completions at once than the completion queue holds (4,096), must all
 * complete with their own results; none lost, none duplicated.
 */
#include "helpers.h"

#include <fcntl.h>
#include <unistd.h>

/* One task polls n reads of /dev/zero in a single poll: every SQE is
 * prepared in that round (the SQ fills and is submitted from get_sqe), and
 * reads of /dev/zero complete during the submit itself, so the CQEs pile
 * up far past the CQ's size before the worker reaps (overflow). */
typedef struct burst {
    int n, fd, started;
    ar_io *ios;
    unsigned char (*bufs)[32];
    int ready, pendings;
} burst;

static ar_poll burst_poll(void *p, ar_cx *cx)
{
    burst *self = p;
    if (!self->started) {
        self->started = 1;
        for (int i = 0; i < self->n; i++)
            ar_io_read(&self->ios[i], self->fd, self->bufs[i], sizeof self->bufs[i], -1);
    }
    int ready = 0;
    for (int i = 0; i < self->n; i++)
        ready += ar_io_poll(&self->ios[i], cx) == AR_READY;
    self->ready = ready;
    if (ready < self->n) {
        self->pendings++;
        return AR_PENDING;
    }
    return AR_READY;
}
static void burst_drop(void *p)
{
    burst *self = p;
    for (int i = 0; i < self->n; i++)
        ar_io_drop(&self->ios[i]);
}
static const ar_future_vt burst_vt = AR_FUTURE_VT(burst, burst_poll, burst_drop, ready);

static void run_burst(uint32_t workers, int n)
{
    ar_rt *rt = t_rt_mt(workers);
    burst b = {.n = n};
    b.fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
    cr_assert_geq(b.fd, 0);
    b.ios = calloc((size_t)n, sizeof *b.ios);
    b.bufs = malloc((size_t)n * sizeof *b.bufs);
    memset(b.bufs, 0xAA, (size_t)n * sizeof *b.bufs);
    ar_join h;
    /* Spawned: polled on a worker, so every SQE goes straight to that
     * worker's ring in the one poll. */
    T_OK(ar_spawn(rt, &burst_vt, &b, &h));
    int ready = 0;
    T_OK(ar_join_wait(&h, &ready, sizeof ready));
    T_EQ_INT(ready, n);
    /* b was copied into the task; the ios and buffers are ours. */
    int wrong = 0, firstbad = -1;
    for (int i = 0; i < n; i++) {
        bool ok = b.ios[i].res == 32;
        for (int k = 0; k < 32 && ok; k++)
            ok = b.bufs[i][k] == 0;
        if (!ok && firstbad < 0)
            firstbad = i;
        wrong += !ok;
    }
    cr_assert(t_is(wrong == 0), "%d reads wrong, first #%d res %lld", wrong, firstbad,
              firstbad >= 0 ? (long long)b.ios[firstbad].res : 0LL);
    close(b.fd);
    free(b.ios);
    free(b.bufs);
    ar_rt_free(rt);
}

Test(io_limits, more_ops_than_sq_entries_in_one_round, .timeout = 60)
{
    run_burst(1, 3000); /* 3 x the SQ, under the CQ */
}

Test(io_limits, cq_overflow_loses_no_completion, .timeout = 120)
{
    run_burst(2, T_N(20000)); /* 5 x the CQ (10,000 under the sanitizers) */
}
