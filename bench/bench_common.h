/*
 * bench/bench_common.h - shared scaffolding of the benchmark programs.
 *
 * Command line (the same for every implementation, BENCH.md):
 *     bench_<workload> [--threads N] [--iters K] [--warmup W]
 * Each measured iteration prints one line
 *     workload=<name> impl=asyncrt threads=<n> value=<number> unit=<unit>
 * and the runner (bench/run.py) takes medians.
 */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <asyncrt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct bench_args {
    unsigned threads;
    unsigned iters;
    unsigned warmup;
} bench_args;

static inline void bench_parse(int argc, char **argv, bench_args *a, unsigned def_iters)
{
    a->threads = 2;
    a->iters = def_iters;
    a->warmup = 5;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            a->threads = (unsigned)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--iters") && i + 1 < argc)
            a->iters = (unsigned)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--warmup") && i + 1 < argc)
            a->warmup = (unsigned)atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--threads N] [--iters K] [--warmup W]\n", argv[0]);
            exit(2);
        }
    }
    if (a->threads == 0 || a->iters == 0) {
        fprintf(stderr, "%s: --threads and --iters must be >= 1\n", argv[0]);
        exit(2);
    }
}

static inline double bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static inline void bench_print(const char *workload, unsigned threads, double value,
                               const char *unit)
{
    printf("workload=%s impl=asyncrt threads=%u value=%.2f unit=%s\n", workload, threads, value,
           unit);
    fflush(stdout);
}

static inline ar_rt *bench_rt(unsigned threads)
{
    ar_rt_opts o;
    ar_rt_opts_init(&o);
    o.workers = threads;
    ar_rt *rt;
    int rc = ar_rt_new(&rt, &o);
    if (rc) {
        fprintf(stderr, "ar_rt_new: %s\n", ar_strerror(rc));
        exit(1);
    }
    return rt;
}

#define BENCH_CHECK(expr)                                                        \
    do {                                                                         \
        int bench_rc_ = (expr);                                                  \
        if (bench_rc_ < 0) {                                                     \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #expr,        \
                    ar_strerror(bench_rc_));                                     \
            exit(1);                                                             \
        }                                                                        \
    } while (0)

/* Resident set size in bytes, from /proc/self/statm. */
static inline long bench_rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, rss = 0;
    if (!f)
        return -1;
    if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
        rss = -1;
    fclose(f);
    return rss * sysconf(_SC_PAGESIZE);
}

/* Run run(threads) `iters` times, each in a fresh process, for the memory
 * workloads (a process's resident set keeps what an earlier iteration
 * freed).  Returns main's exit status: 0, or 1 when an iteration failed. */
static inline int bench_run_forked(const char *name, unsigned iters, unsigned threads,
                                   void (*run)(unsigned))
{
    for (unsigned i = 0; i < iters; i++) {
        pid_t pid = fork();
        if (pid < 0) {
            perror("fork");
            return 1;
        }
        if (pid == 0) {
            run(threads);
            fflush(stdout);
            _exit(0);
        }
        int st;
        if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            fprintf(stderr, "%s: iteration %u failed\n", name, i);
            return 1;
        }
    }
    return 0;
}

/* The deadlines of the timer workloads: splitmix64 from seed 0, the
 * sequence the peers use too. */
static inline uint64_t bench_splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

#endif
