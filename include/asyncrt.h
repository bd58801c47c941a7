/*
 * asyncrt.h - libasyncrt umbrella header: Rust-style async for C.
 *
 * Include this, link `pkg-config --libs asyncrt`.  One header per concept
 * lives under asyncrt/.
 */
#ifndef ASYNCRT_H
#define ASYNCRT_H

#include "asyncrt/common.h"
#include "asyncrt/future.h"
#include "asyncrt/runtime.h"
#include "asyncrt/metrics.h"
#include "asyncrt/task_dump.h"
#include "asyncrt/oneshot.h"
#include "asyncrt/notify.h"
#include "asyncrt/mpsc.h"
#include "asyncrt/semaphore.h"
#include "asyncrt/mutex.h"
#include "asyncrt/rwlock.h"
#include "asyncrt/barrier.h"
#include "asyncrt/borrow.h"
#include "asyncrt/cell.h"
#include "asyncrt/closure.h"
#include "asyncrt/time.h"
#include "asyncrt/io.h"
#include "asyncrt/signal.h"
#include "asyncrt/stream.h"
#include "asyncrt/combinator.h"
#include "asyncrt/task_set.h"
#include "asyncrt/blocking.h"

#endif
