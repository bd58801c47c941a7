/*
 * runtime/chaos.c - the seeded chaos scheduler (see chaos.h).
 *
 * Shared state: `seed` and `rate` are written once by the constructor
 * before any runtime thread exists and only read afterwards; `next_thread`
 * hands out thread numbers (relaxed: only uniqueness matters); `acted`
 * counts actions (relaxed, statistics only).  Everything else is
 * thread-local.
 */
#include "chaos.h"

#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef AR_CHAOS

static uint64_t seed;
static uint32_t rate = 40; /* per mille */
static _Atomic uint64_t next_thread;
static _Atomic uint64_t acted;

static __thread uint64_t rng_state;
static __thread bool rng_ready;
static __thread bool in_hook; /* no chaos inside chaos (sched_yield is safe, but keep it flat) */

static uint64_t splitmix(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

static inline uint64_t draw(void)
{
    if (__builtin_expect(!rng_ready, 0)) {
        uint64_t k = atomic_fetch_add_explicit(&next_thread, 1, memory_order_relaxed);
        rng_state = splitmix(seed + k) | 1;
        rng_ready = true;
    }
    uint64_t x = rng_state; /* xorshift64* */
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* Written with write(2) only: also called from signal handlers.
 * "asyncrt chaos: seed N WHY (replay: AR_CHAOS_SEED=N)" */
static void print_seed(const char *why)
{
    char num[24], buf[160];
    int n = 0;
    uint64_t v = seed;
    char rev[24];
    do {
        rev[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (int i = 0; i < n; i++)
        num[i] = rev[n - 1 - i];
    num[n] = 0;
    const char *parts[] = {"asyncrt chaos: seed ", num, " ", why, " (replay: AR_CHAOS_SEED=", num,
                           ")\n"};
    size_t len = 0;
    for (size_t k = 0; k < sizeof parts / sizeof parts[0]; k++)
        for (const char *p = parts[k]; *p && len < sizeof buf; p++)
            buf[len++] = *p;
    ssize_t w = write(2, buf, len);
    (void)w;
}

static void on_fatal(int sig)
{
    print_seed(sig == SIGABRT ? "at SIGABRT" : sig == SIGSEGV ? "at SIGSEGV" : "at a fatal signal");
    signal(sig, SIG_DFL);
    raise(sig);
}

__attribute__((constructor)) static void chaos_init(void)
{
    const char *s = getenv("AR_CHAOS_SEED");
    bool inherited = s && *s;
    if (inherited) {
        seed = strtoull(s, NULL, 0);
    } else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        seed = splitmix((uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)getpid());
        char v[24];
        snprintf(v, sizeof v, "%" PRIu64, seed);
        setenv("AR_CHAOS_SEED", v, 1); /* Criterion's workers draw from the same seed */
    }
    const char *r = getenv("AR_CHAOS_RATE");
    if (r && *r) {
        long x = strtol(r, NULL, 10);
        rate = x < 0 ? 0 : x > 1000 ? 1000 : (uint32_t)x;
    }
    /* Once per process tree: workers that inherited the seed stay quiet
     * unless they die (the signal handlers below print it again). */
    if (!inherited || getenv("AR_CHAOS_VERBOSE"))
        print_seed("at start-up");
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_fatal;
    sigemptyset(&sa.sa_mask);
    int sigs[] = {SIGSEGV, SIGABRT, SIGBUS, SIGILL, SIGFPE};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        struct sigaction old;
        /* Do not replace a handler someone installed (sanitizers, tests). */
        if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler == SIG_DFL)
            sigaction(sigs[i], &sa, NULL);
    }
}

static inline bool hit(void) { return draw() % 1000 < rate; }

void ar__chaos_point(enum ar__chaos_site site)
{
    (void)site;
    if (in_hook || !hit())
        return;
    in_hook = true;
    atomic_fetch_add_explicit(&acted, 1, memory_order_relaxed);
    uint64_t d = draw();
    if (d & 1) {
        sched_yield();
    } else {
        for (uint32_t i = (uint32_t)(d >> 1) % 512; i; i--)
            __asm__ __volatile__("" ::: "memory");
    }
    in_hook = false;
}

bool ar__chaos_coin(enum ar__chaos_site site)
{
    (void)site;
    if (in_hook || !hit())
        return false;
    atomic_fetch_add_explicit(&acted, 1, memory_order_relaxed);
    return true;
}

bool ar__chaos_enabled(void) { return true; }
uint64_t ar__chaos_seed(void) { return seed; }
uint64_t ar__chaos_acted(void) { return atomic_load_explicit(&acted, memory_order_relaxed); }

#else

bool ar__chaos_enabled(void) { return false; }
uint64_t ar__chaos_seed(void) { return 0; }
uint64_t ar__chaos_acted(void) { return 0; }

#endif
