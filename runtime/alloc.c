/*
 * runtime/alloc.c - allocator glue: jemalloc's sized API or the system malloc.
 */
#include "alloc.h"

#include <stdlib.h>
#include <string.h>

#ifdef AR_USE_JEMALLOC
#include <jemalloc/jemalloc.h>

void *ar__alloc(size_t size) { return mallocx(size ? size : 1, 0); }
void *ar__calloc(size_t size) { return mallocx(size ? size : 1, MALLOCX_ZERO); }
void ar__free(void *p, size_t size)
{
    if (p)
        sdallocx(p, size ? size : 1, 0);
}
void *ar__realloc(void *p, size_t old_size, size_t new_size)
{
    (void)old_size;
    if (!p)
        return mallocx(new_size ? new_size : 1, 0);
    return rallocx(p, new_size ? new_size : 1, 0);
}
#else
void *ar__alloc(size_t size) { return malloc(size ? size : 1); }
void *ar__calloc(size_t size) { return calloc(1, size ? size : 1); }
void ar__free(void *p, size_t size)
{
    (void)size;
    free(p);
}
void *ar__realloc(void *p, size_t old_size, size_t new_size)
{
    (void)old_size;
    return realloc(p, new_size ? new_size : 1);
}
#endif
