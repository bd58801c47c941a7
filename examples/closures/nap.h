/*
 * examples/closures/nap.h - the sleep of the seed articles, in one place.
 *
 * Every closure of the seeds sleeps (tokio::time::sleep(1s)) before it
 * answers, so that its future really is pending across an await.  `nap` is
 * ar_sleep (asyncrt/time.h); the three wrappers keep the walkthroughs and
 * the tests that share them independent of the timer API's spelling.
 *
 * Like every future that registers itself somewhere, a nap must stay where
 * it is from its first poll until it completes or is dropped, and a frame
 * holding one drops it in its frame_drop (nap_drop is safe in any state,
 * a zeroed nap included).
 */
#ifndef AR_EXAMPLES_NAP_H
#define AR_EXAMPLES_NAP_H

#include <asyncrt.h>

typedef ar_sleep nap;

static inline void nap_init(nap *n, uint64_t ms) { ar_sleep_init(n, ms); }

static inline ar_poll nap_poll(nap *n, ar_cx *cx) { return ar_sleep_poll(n, cx); }

static inline void nap_drop(nap *n) { ar_sleep_drop(n); }

#endif
