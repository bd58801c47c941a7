/*
 * examples/common/test_glue.h - sanitizer glue for Criterion itself, as in
 * tests/helpers.h (which explains it): under ASan, Criterion's runner
 * process (never the test processes) leaks a 48-byte block when it runs
 * tests in parallel, so leak checking is turned off in the runner only;
 * boxfort marks the test processes with BXFI_MAP.  Under TSan, Criterion
 * needs rand_r answered as below.  Include it once in each example test
 * program.
 */
#ifndef EXAMPLES_TEST_GLUE_H
#define EXAMPLES_TEST_GLUE_H

#include <stdlib.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
__attribute__((constructor)) static void t_lsan_runner_off(void)
{
    if (!getenv("BXFI_MAP"))
        __lsan_disable();
}
#endif

/* TSan: boxfort maps its arena at slots chosen with rand_r, nearly all of
 * which TSan reserves (Criterion issue #274); calls from libcriterion get
 * free slots, everyone else glibc's algorithm (tests/helpers.h). */
#if defined(__SANITIZE_THREAD__)
#include <dlfcn.h>
#include <stdatomic.h>
#include <string.h>
__attribute__((used)) int rand_r(unsigned int *seed)
{
    Dl_info di;
    if (dladdr(__builtin_return_address(0), &di) && di.dli_fname &&
        strstr(di.dli_fname, "libcriterion")) {
        static _Atomic unsigned k;
        return (int)(0x367000u + (atomic_fetch_add(&k, 1) & 0xffu));
    }
    unsigned int next = *seed;
    int result;
    next = next * 1103515245u + 12345u;
    result = (int)((next / 65536u) % 2048u);
    next = next * 1103515245u + 12345u;
    result = (int)(((unsigned)result << 10) ^ ((next / 65536u) % 1024u));
    next = next * 1103515245u + 12345u;
    result = (int)(((unsigned)result << 10) ^ ((next / 65536u) % 1024u));
    *seed = next;
    return result;
}
#endif

#endif
