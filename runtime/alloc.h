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

#include <stddef.h>

void *ar__alloc(size_t size);
void *ar__calloc(size_t size);
void ar__free(void *p, size_t size);
/* Grow/shrink; on failure returns NULL and leaves p untouched. */
void *ar__realloc(void *p, size_t old_size, size_t new_size);

#endif
