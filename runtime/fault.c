/*
 * runtime/fault.c - reactor fault injection (see fault.h).
 *
 * Shared fields: sqe_left, io_left, io_res, io_permille and the counters
 * are written by tests and by the hooks with atomic read-modify-writes
 * (relaxed: each is a counter on its own, nothing is published through
 * them); ar__fault_armed is their summary, recomputed by the controls.
 * The random mode's PRNG state is one atomic word advanced by CAS, so
 * workers draw distinct numbers.
 */
#include "fault.h"

#include <errno.h>

#include "op.h"

_Atomic int ar__fault_armed;

static _Atomic long sqe_left;
static _Atomic long io_left;
static _Atomic int io_res;
static _Atomic unsigned io_permille;
static _Atomic uint64_t io_rng;
static _Atomic uint64_t count_sqe, count_io;

static void rearm(void)
{
    int on = atomic_load_explicit(&sqe_left, memory_order_relaxed) > 0 ||
             atomic_load_explicit(&io_left, memory_order_relaxed) > 0 ||
             atomic_load_explicit(&io_permille, memory_order_relaxed) > 0;
    atomic_store_explicit(&ar__fault_armed, on, memory_order_relaxed);
}

void ar__fault_sqe_full(long n)
{
    atomic_store_explicit(&sqe_left, n > 0 ? n : 0, memory_order_relaxed);
    rearm();
}

static bool injectable(int res) { return res == -EAGAIN || res == -EINTR || res == -ECANCELED; }

int ar__fault_io_result(int res, long n)
{
    if (n > 0 && !injectable(res))
        return -EINVAL;
    atomic_store_explicit(&io_res, res, memory_order_relaxed);
    atomic_store_explicit(&io_left, n > 0 ? n : 0, memory_order_relaxed);
    rearm();
    return 0;
}

void ar__fault_io_random(unsigned permille, uint64_t seed)
{
    atomic_store_explicit(&io_rng, seed | 1, memory_order_relaxed);
    atomic_store_explicit(&io_permille, permille > 1000 ? 1000 : permille, memory_order_relaxed);
    rearm();
}

uint64_t ar__fault_count_sqe(void) { return atomic_load_explicit(&count_sqe, memory_order_relaxed); }
uint64_t ar__fault_count_io(void) { return atomic_load_explicit(&count_io, memory_order_relaxed); }

/* Take one from a countdown; true when it was positive. */
static bool take(_Atomic long *left)
{
    long cur = atomic_load_explicit(left, memory_order_relaxed);
    while (cur > 0)
        if (atomic_compare_exchange_weak_explicit(left, &cur, cur - 1, memory_order_relaxed,
                                                  memory_order_relaxed))
            return true;
    return false;
}

bool ar__fault_sqe_take_slow(void)
{
    if (!take(&sqe_left))
        return false;
    atomic_fetch_add_explicit(&count_sqe, 1, memory_order_relaxed);
    return true;
}

static uint64_t draw(void)
{
    uint64_t cur = atomic_load_explicit(&io_rng, memory_order_relaxed), x;
    do {
        x = cur;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
    } while (!atomic_compare_exchange_weak_explicit(&io_rng, &cur, x, memory_order_relaxed,
                                                    memory_order_relaxed));
    return x * 0x2545F4914F6CDD1DULL;
}

bool ar__fault_io_take_slow(uint8_t op_kind, int *res)
{
    /* close: Linux closes the descriptor even when close reports EINTR,
     * so an error that left it open would be a lie (and a leaked fd). */
    if (op_kind == AR__OP_CLOSE)
        return false;
    if (take(&io_left)) {
        *res = atomic_load_explicit(&io_res, memory_order_relaxed);
    } else {
        unsigned pm = atomic_load_explicit(&io_permille, memory_order_relaxed);
        if (pm == 0)
            return false;
        uint64_t d = draw();
        if (d % 1000 >= pm)
            return false;
        static const int errs[3] = {-EAGAIN, -EINTR, -ECANCELED};
        *res = errs[(d >> 20) % 3];
    }
    atomic_fetch_add_explicit(&count_io, 1, memory_order_relaxed);
    return true;
}

uint64_t ar__fault_uring_code_slow(const void *op, uint8_t op_kind)
{
    int res;
    if (((uintptr_t)op & 15) != 0) /* the code would not fit: never inject */
        return 0;
    if (!ar__fault_io_take_slow(op_kind, &res))
        return 0;
    _Static_assert(EAGAIN == 11 && EINTR == 4 && ECANCELED == 125, "fault.h's code table");
    return res == -EAGAIN ? 1 : res == -EINTR ? 2 : 3;
}
