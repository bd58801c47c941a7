/*
 * runtime/alloc.c - allocator glue: jemalloc's sized API or the system malloc.
 */
#include "alloc.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* Countdown to the injected failure; 0 = off.  Written by tests, read by
 * every allocation (relaxed: tests set it while the runtime is quiet). */
static _Atomic long fail_countdown;

void ar__alloc_fail_nth(long n) { atomic_store_explicit(&fail_countdown, n, memory_order_relaxed); }

long ar__alloc_fail_pending(void)
{
    long n = atomic_load_explicit(&fail_countdown, memory_order_relaxed);
    return n > 0 ? n : 0;
}

bool ar__alloc_should_fail(void)
{
    if (__builtin_expect(atomic_load_explicit(&fail_countdown, memory_order_relaxed) == 0, 1))
        return false;
    return atomic_fetch_sub_explicit(&fail_countdown, 1, memory_order_relaxed) == 1;
}

#ifdef AR_USE_JEMALLOC
#include <jemalloc/jemalloc.h>

void *ar__alloc(size_t size) { return ar__alloc_should_fail() ? NULL : mallocx(size ? size : 1, 0); }
void *ar__calloc(size_t size)
{
    return ar__alloc_should_fail() ? NULL : mallocx(size ? size : 1, MALLOCX_ZERO);
}
void ar__free(void *p, size_t size)
{
    if (p)
        sdallocx(p, size ? size : 1, 0);
}
void *ar__realloc(void *p, size_t old_size, size_t new_size)
{
    (void)old_size;
    if (ar__alloc_should_fail())
        return NULL;
    if (!p)
        return mallocx(new_size ? new_size : 1, 0);
    return rallocx(p, new_size ? new_size : 1, 0);
}
#else
void *ar__alloc(size_t size) { return ar__alloc_should_fail() ? NULL : malloc(size ? size : 1); }
void *ar__calloc(size_t size) { return ar__alloc_should_fail() ? NULL : calloc(1, size ? size : 1); }
void ar__free(void *p, size_t size)
{
    (void)size;
    free(p);
}
void *ar__realloc(void *p, size_t old_size, size_t new_size)
{
    (void)old_size;
    return ar__alloc_should_fail() ? NULL : realloc(p, new_size ? new_size : 1);
}
#endif

/* ---- big arrays: mmap above AR__BIG_BYTES ---- */
#include <sys/mman.h>
#include <unistd.h>

static size_t page_round(size_t n)
{
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    return (n + pg - 1) & ~(pg - 1);
}

void *ar__alloc_big(size_t size)
{
    if (size < AR__BIG_BYTES)
        return ar__calloc(size);
    if (ar__alloc_should_fail())
        return NULL;
    void *p = mmap(NULL, page_round(size), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                   -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

/* ThreadSanitizer does not intercept mremap (google/sanitizers#1099): the
 * range a mapping moves away from keeps its old access history, and a later
 * mapping placed there is reported as racing with it.  Under TSan big
 * arrays grow by copy through mmap/munmap, which it does intercept. */
#if defined(__SANITIZE_THREAD__)
#define USE_MREMAP 0
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define USE_MREMAP 0
#endif
#endif
#ifndef USE_MREMAP
#define USE_MREMAP 1
#endif

void *ar__realloc_big(void *p, size_t old_size, size_t new_size)
{
    if (!p || old_size == 0)
        return ar__alloc_big(new_size);
    if (new_size < AR__BIG_BYTES) /* small stays small (arrays only grow) */
        return ar__realloc(p, old_size, new_size);
    if (old_size < AR__BIG_BYTES || !USE_MREMAP) {
        void *n = ar__alloc_big(new_size);
        if (!n)
            return NULL;
        memcpy(n, p, old_size);
        ar__free_big(p, old_size);
        return n;
    }
    void *n = mremap(p, page_round(old_size), page_round(new_size), MREMAP_MAYMOVE);
    return n == MAP_FAILED ? NULL : n;
}

void ar__free_big(void *p, size_t size)
{
    if (!p)
        return;
    if (size < AR__BIG_BYTES)
        ar__free(p, size);
    else
        munmap(p, page_round(size));
}

void ar__discard_big(void *p, size_t size)
{
    if (p && size >= AR__BIG_BYTES)
        madvise(p, page_round(size), MADV_DONTNEED);
}
