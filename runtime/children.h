/*
 * runtime/children.h - what join_all.c and select.c share.
 */
#ifndef AR_RUNTIME_CHILDREN_H
#define AR_RUNTIME_CHILDREN_H

#include "asyncrt/combinator.h"

/* 0 when children[0..n) is a list a combinator accepts (n within
 * AR_COMBINATOR_MAX, every entry with a vtable, a poll and a future), else
 * -EINVAL. */
int ar__children_check(ar_child *children, uint32_t n);

#endif
