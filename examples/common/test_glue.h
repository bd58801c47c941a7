/*
 * examples/common/test_glue.h - sanitizer glue for Criterion itself, as in
 * tests/helpers.h (which explains it): under ASan, Criterion's runner
 * process (never the test processes) leaks a 48-byte block when it runs
 * tests in parallel, so leak checking is turned off in the runner only;
 * boxfort marks the test processes with BXFI_MAP.  Include it once in each
 * example test program.
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

#endif
