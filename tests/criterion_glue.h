/*
 * tests/criterion_glue.h - sanitizer glue for Criterion itself (not for the
 * code under test), the one copy every Criterion test program includes
 * (tests/helpers.h for the runtime's tests; the example servers' tests
 * directly).  Include it once per test program, in one translation unit:
 * it defines rand_r under TSan.
 *
 * ASan: Criterion's runner process (the parent of the per-test processes)
 * leaks a few 48-byte blocks when it runs tests in parallel (--jobs=2).
 * The runner never runs test code: tests run in processes that boxfort
 * exec's afresh with BXFI_MAP in their environment.  Leak checking is
 * turned off in the runner only; every test process is checked in full.
 *
 * TSan: Criterion's boxfort maps its inheritable arena at a random 16 MiB
 * slot of [0x200000000000, 0x600000000000) chosen with rand_r, and gives up
 * after 10 slots that are already mapped.  Under TSan nearly all of that
 * range is shadow or reserved, so Criterion aborts at start ("Could not
 * initialize inheritable arena", Criterion issue #274).  Our rand_r answers
 * calls made from libcriterion with slots at 0x5670_0000_0000 and up, a part
 * of TSan's application range (PIE area) that is free; every other caller
 * gets glibc's rand_r algorithm.
 */
#ifndef AR_TESTS_CRITERION_GLUE_H
#define AR_TESTS_CRITERION_GLUE_H

#include <stdlib.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
__attribute__((constructor)) static void t_lsan_runner_off(void)
{
    /* boxfort marks the test processes it starts with BXFI_MAP. */
    if (!getenv("BXFI_MAP"))
        __lsan_disable();
}
#endif

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
