/*
 * runtime/alloc.h - the one allocation hook of the runtime.
 *
 * Every allocation the runtime makes goes through ar__alloc / ar__free so that
 * the allocator can be swapped at build time (-Dallocator=jemalloc|system)
 * and so that a test mode can inject failures in one place.  Sized free:
 * callers pass back the size they allocated, which jemalloc's sdallocx uses
 * to skip a size lookup.
 */
#ifndef AR_RUNTIME_ALLOC_H
#define AR_RUNTIME_ALLOC_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Fault injection (tests): make the nth ar__alloc/ar__calloc/ar__realloc
 * call from now fail (n = 1: the next one); 0 turns it off.  Process-wide.
 * Costs one relaxed load per allocation when off.
 */
void ar__alloc_fail_nth(long n);
/* Allocations still to go before the injected failure (0: it happened, or
 * none is armed): a sweep stops once an operation made fewer than n. */
long ar__alloc_fail_pending(void);
/* True when the current allocation must fail (for allocators outside this
 * file, e.g. aligned ones). */
bool ar__alloc_should_fail(void);

void *ar__alloc(size_t size);
void *ar__calloc(size_t size);
void ar__free(void *p, size_t size);
/* Grow/shrink; on failure returns NULL and leaves p untouched. */
void *ar__realloc(void *p, size_t old_size, size_t new_size);

/*
 * Arrays that can grow large (registry shards, notify rings, the injection
 * queue).  Above AR__BIG_BYTES they live in their own mappings, grown with
 * mremap (no copy) and unmapped when freed, so the resident set follows the
 * live size instead of keeping the pages of every outgrown copy.  Memory
 * from ar__alloc_big is zeroed.  Sizes must be passed back exactly.
 */
#define AR__BIG_BYTES ((size_t)256 * 1024)
void *ar__alloc_big(size_t size);
void *ar__realloc_big(void *p, size_t old_size, size_t new_size);
void ar__free_big(void *p, size_t size);
/* Give the pages of an unused big array back to the kernel, keeping the
 * mapping (contents become zero).  No-op below AR__BIG_BYTES. */
void ar__discard_big(void *p, size_t size);

#endif
