/*
 * asyncrt/common.h - export macro, version and error helpers shared by every
 * public header of libasyncrt.
 *
 * Error convention (DESIGN.md section 6): every public function that can fail
 * returns 0 or a non-negative value on success and a negative errno on
 * failure, exactly as liburing and the kernel do (cqe->res).  errno itself is
 * never used: completions move between threads and errno belongs to one.
 */
#ifndef ASYNCRT_COMMON_H
#define ASYNCRT_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#if defined(AR_BUILDING_LIB) && defined(__GNUC__)
#define AR_EXTERN __attribute__((visibility("default")))
#else
#define AR_EXTERN
#endif

#define AR_VERSION_MAJOR 0
#define AR_VERSION_MINOR 1
#define AR_VERSION_PATCH 0

#ifdef __cplusplus
extern "C" {
#endif

/* "X.Y.Z" of the library actually linked (may differ from the header's). */
AR_EXTERN const char *ar_version(void);

/*
 * Human-readable text for a negative errno returned by any ar_ function
 * (ar_strerror(-ECANCELED) == "Operation canceled").  Never returns NULL;
 * thread-safe (returns static strings only).
 */
AR_EXTERN const char *ar_strerror(int err);

#ifdef __cplusplus
}
#endif

#endif
