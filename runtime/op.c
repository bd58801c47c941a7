/*
 * runtime/op.c - I/O operation blocks (see op.h): what both reactor
 * backends share about them -- making and freeing a block (closing what a
 * forgotten operation produced), and the queues of multishot operations.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "op.h"

ar__op *ar__op_new(uint8_t kind, size_t data_len)
{
    size_t size = sizeof(ar__op) + data_len;
    ar__op *op = ar__alloc(size);
    if (!op)
        return NULL;
    memset(op, 0, sizeof *op);
    ar__spin_init(&op->lock);
    op->kind = kind;
    op->size = size;
    op->fd = -1;
    return op;
}

/* Close queued descriptors, free queued chunks of a multishot op. */
static void msq_free(ar__op *op)
{
    ar__msq *q = ar__op_msq(op);
    for (uint32_t i = 0; i < q->n; i++)
        close(q->fds[(q->head + i) % q->cap]);
    if (q->fds)
        ar__free(q->fds, q->cap * sizeof *q->fds);
    for (ar__chunk *c = q->first, *n; c; c = n) {
        n = c->next;
        ar__free(c, sizeof *c + c->len);
    }
    memset(q, 0, sizeof *q);
}

void ar__op_release(ar__op *op)
{
    if (op->kind == AR__OP_ACCEPT_MULTI || op->kind == AR__OP_RECV_MULTI)
        msq_free(op);
    if (op->orphaned && op->state == AR__OPS_DONE && op->res >= 0 &&
        (op->kind == AR__OP_ACCEPT || op->kind == AR__OP_OPENAT))
        close(op->res); /* produced for a future that is gone: no leak */
    ar_waker_drop(op->waker);
    ar__free(op, op->size);
}

/* Queue fd (accept stream).  False when out of memory.  Both backends
 * queue accepted descriptors this way. */
bool ar__msq_push_fd(ar__msq *q, int fd)
{
    if (q->n == q->cap) {
        uint32_t cap = q->cap ? q->cap * 2 : 16;
        int *v = ar__alloc(cap * sizeof *v);
        if (!v)
            return false;
        for (uint32_t i = 0; i < q->n; i++)
            v[i] = q->fds[(q->head + i) % q->cap];
        if (q->fds)
            ar__free(q->fds, q->cap * sizeof *q->fds);
        q->fds = v;
        q->cap = cap;
        q->head = 0;
    }
    q->fds[(q->head + q->n) % q->cap] = fd;
    q->n++;
    return true;
}

/* Accept errors after which the multishot is simply armed again (epoll:
 * accepting goes on). */
bool ar__accept_transient(int res)
{
    return res == -ECONNABORTED || res == -EINTR || res == -EAGAIN || res == -EPROTO ||
           res == -ENETDOWN || res == -ENOPROTOOPT || res == -EHOSTDOWN || res == -ENONET ||
           res == -EHOSTUNREACH || res == -EOPNOTSUPP || res == -ENETUNREACH ||
           res == -ECONNRESET || res == -ETIMEDOUT;
}
