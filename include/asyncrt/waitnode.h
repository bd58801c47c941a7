/*
 * asyncrt/waitnode.h - the intrusive waiter node that the sync primitives
 * (semaphore, mutex, rwlock, barrier, mpsc senders) embed in their futures.
 *
 * A waiting future is a node of its primitive's FIFO list: waiting costs no
 * allocation, and dropping the future unlinks the node (cancellation
 * safety).  Every member is private and guarded by the lock of the
 * primitive the node waits on; the types are here only so that futures can
 * be embedded by value.
 */
#ifndef ASYNCRT_WAITNODE_H
#define ASYNCRT_WAITNODE_H

#include "future.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ar_waitnode {
    struct ar_waitnode *prev, *next;
    ar_waker waker;  /* owned reference while the node is linked */
    uint64_t need;   /* permits still missing (semaphore); generation (barrier) */
    uint32_t state;  /* per primitive; guarded by the primitive's lock */
    uint16_t phase;  /* init / waiting / done: read and written by the owner only */
    int16_t res;     /* result once done (0 or -errno): owner only */
} ar_waitnode;

typedef struct ar_waitlist {
    ar_waitnode *head, *tail;
} ar_waitlist;

#ifdef __cplusplus
}
#endif

#endif
