/*
 * runtime/set_wait.h - what scope.c uses of task_set.c.
 */
#ifndef AR_RUNTIME_SET_WAIT_H
#define AR_RUNTIME_SET_WAIT_H

#include "asyncrt/task_set.h"

/* Wait for every task of the set to end, without aborting any; outputs are
 * dropped and *cancelled (may be NULL) counts the cancelled ones.  AR_READY
 * once the set is empty (or not initialised). */
ar_poll ar__task_set_wait_all(ar_task_set *s, ar_cx *cx, uint32_t *cancelled);

/* A waker that does nothing: polls without a cx check without registering. */
ar_waker ar__noop_waker(void);

#endif
