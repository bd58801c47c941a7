/*
 * runtime/fault.h - reactor fault injection for tests (issue 8): SQE
 * exhaustion and injected -EAGAIN / -EINTR / -ECANCELED completions, on
 * both backends.  Allocation failures are alloc.h's ar__alloc_fail_nth.
 *
 * Compiled into every build, like the allocation hook: when nothing is
 * armed each hook costs one relaxed load of a global and a predicted
 * branch (the reactors call them once per SQE get and once per operation
 * start or completion).
 *
 * What an injected completion means: the kernel refused the operation
 * without carrying it out (nothing was received, sent, accepted or
 * opened).  On io_uring the operation's SQE is turned into a NOP whose
 * user_data carries the injected error in its low bits (ar__op blocks are
 * at least 16-byte aligned), so the completion still travels the real
 * CQE path; on epoll the attempt returns the error instead of making the
 * system call.  Single-shot operations report the error to the caller
 * unchanged, as they would the kernel's own; multishot streams (io_uring)
 * re-arm on -EAGAIN/-EINTR and end with -ECANCELED.  The epoll backend
 * injects into single-shot operations only.
 *
 * Settings are process-wide; tests set them while the runtime is quiet
 * or accept that an operation in flight on another worker takes the fault.
 */
#ifndef AR_RUNTIME_FAULT_H
#define AR_RUNTIME_FAULT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* ---- test controls ---- */

/* The next n SQE gets find the submission queue full (0: off). */
void ar__fault_sqe_full(long n);
/* The next n operations started complete with res, one of -EAGAIN,
 * -EINTR, -ECANCELED (else -EINVAL); n = 0 turns it off. */
int ar__fault_io_result(int res, long n);
/* Each operation started completes, with probability permille/1000, with
 * one of the three errors (drawn from a PRNG seeded with seed); 0: off. */
void ar__fault_io_random(unsigned permille, uint64_t seed);
/* Faults injected since start-up (SQE gets refused, completions). */
uint64_t ar__fault_count_sqe(void);
uint64_t ar__fault_count_io(void);

/* ---- hooks (reactors) ---- */

/* Non-zero while anything is armed: the one load of the fast path.
 * Written by the controls above, read relaxed by the hooks. */
extern _Atomic int ar__fault_armed;

bool ar__fault_sqe_take_slow(void);
bool ar__fault_io_take_slow(uint8_t op_kind, int *res);

/* get_sqe: true when this get must pretend the SQ is full. */
static inline bool ar__fault_sqe_take(void)
{
    return __builtin_expect(atomic_load_explicit(&ar__fault_armed, memory_order_relaxed), 0) &&
           ar__fault_sqe_take_slow();
}

/* Starting an operation of kind op_kind: true and *res set when it must
 * complete with an injected error instead. */
static inline bool ar__fault_io_take(uint8_t op_kind, int *res)
{
    return __builtin_expect(atomic_load_explicit(&ar__fault_armed, memory_order_relaxed), 0) &&
           ar__fault_io_take_slow(op_kind, res);
}

/* io_uring: after the SQE of op was prepared, the code (1..3) of the
 * error to inject, or 0.  On non-zero reactor_uring.c (the one file that
 * speaks liburing) turns the SQE into a NOP with user_data op | code. */
uint64_t ar__fault_uring_code_slow(const void *op, uint8_t op_kind);
static inline uint64_t ar__fault_uring_code(const void *op, uint8_t op_kind)
{
    if (__builtin_expect(atomic_load_explicit(&ar__fault_armed, memory_order_relaxed), 0))
        return ar__fault_uring_code_slow(op, op_kind);
    return 0;
}
/* io_uring: the op of a CQE's user_data, with *res replaced by the
 * injected error when the user_data carries one. */
static inline void *ar__fault_uring_op(uint64_t ud, int *res)
{
    if (__builtin_expect(ud & 15, 0)) {
        static const int codes[4] = {0, -11 /* EAGAIN */, -4 /* EINTR */, -125 /* ECANCELED */};
        *res = codes[ud & 3];
        ud &= ~(uint64_t)15;
    }
    return (void *)(uintptr_t)ud;
}

#endif
