/* Record timestamps.
 *
 * The hook stamps every record, so the clock is a large part of its cost.
 * On this project's x86_64 machines (VMs included) a vDSO
 * clock_gettime(CLOCK_MONOTONIC) costs 3-4 times a bare RDTSC: the vDSO
 * reads the TSC with a fence (rdtsc_ordered), then scales it under a
 * seqlock.  So where the TSC is a usable clock, records carry raw TSC ticks
 * and the drain thread converts them to CLOCK_MONOTONIC nanoseconds
 * (it_clock_convert) before any sink sees them; elsewhere records carry
 * clock_gettime nanoseconds and the drain leaves them alone.
 *
 * "Usable" is decided once, at module import, before any ring exists:
 * x86_64, the CPU says its TSC is invariant (constant rate, runs in deep
 * C-states: CPUID 0x80000007 EDX bit 8), and the kernel itself uses the TSC
 * as its clocksource (it checks that the TSCs of all CPUs are synchronised
 * and switches away from the TSC when they drift).  INFI_TRACING_CLOCK=
 * monotonic forces clock_gettime (for comparison, and for tests); "auto" or
 * unset picks.  Other values are rejected by _env.clock_from_environment()
 * (run and infi_tracing.auto check it): import cannot raise from here.
 *
 * RDTSC is not ordered against other instructions and a thread may move to
 * another CPU between two records, so consecutive ticks of one thread are
 * not guaranteed to grow by the hardware; the drain clamps each ring's
 * converted times so that they never go backwards. */
#ifndef IT_CLOCK_H
#define IT_CLOCK_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <cpuid.h>
#include <x86intrin.h>
#endif

/* 1: records carry TSC ticks.  Written once at import (GIL held, before any
 * hook or drain runs), read-only afterwards. */
static int it_clock_tsc;

/* Monotonic nanoseconds.  clock_gettime(CLOCK_MONOTONIC) goes through the
 * vDSO on Linux (no system call). */
static inline uint64_t it_now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static inline uint64_t it_realtime_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

/* CPU time of the calling thread, ns (for phase figures, not records). */
static inline uint64_t it_thread_cpu_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

/* The CLOCK_REALTIME instant `ns` from now, as pthread_cond_timedwait wants
 * it (our condition variables keep the default clock, the real-time one).
 * The one home of this sum: the drain's waits and the slow-call waiter call
 * it.  A negative `ns` is now. */
static inline struct timespec it_clock_deadline(int64_t ns) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    if (ns < 0)
        ns = 0;
    int64_t nsec = (int64_t)t.tv_nsec + ns % 1000000000;
    t.tv_sec += (time_t)(ns / 1000000000 + nsec / 1000000000);
    t.tv_nsec = (long)(nsec % 1000000000);
    return t;
}

/* The record timestamp: TSC ticks or nanoseconds (see it_clock_tsc). */
static inline uint64_t it_clock_raw(void) {
#if defined(__x86_64__)
    if (__builtin_expect(it_clock_tsc, 1))
        return __rdtsc();
#endif
    return it_now_ns();
}

/* A (ticks, nanoseconds) pair read as close together as we can: the ticks
 * are the middle of two reads around clock_gettime. */
typedef struct {
    uint64_t ticks, ns;
} it_clock_point;

static inline it_clock_point it_clock_sample(void) {
    it_clock_point p;
#if defined(__x86_64__)
    if (it_clock_tsc) {
        uint64_t a = __rdtsc();
        p.ns = it_now_ns();
        uint64_t b = __rdtsc();
        p.ticks = a + (b - a) / 2;
        return p;
    }
#endif
    p.ns = p.ticks = it_now_ns();
    return p;
}

/* Drain-side conversion state of one ring: the sample taken at the ring's
 * previous drain (or its creation) and the last time handed out. */
typedef struct {
    it_clock_point prev;
    uint64_t last_ns;
} it_clock_conv;

/* Set up `c` and return the factor converting ticks after c->prev into
 * nanoseconds: the line through the previous sample and one taken now,
 * after the records to convert were published, so every one of them lies
 * (up to cross-CPU skew) between the two samples.  Piecewise linear through
 * exact CLOCK_MONOTONIC samples: no drift however long the program runs. */
static inline double it_clock_begin(it_clock_conv *c, it_clock_point *now) {
    *now = it_clock_sample();
    if (now->ticks <= c->prev.ticks || now->ns <= c->prev.ns)
        return 0.0;
    return (double)(now->ns - c->prev.ns) / (double)(now->ticks - c->prev.ticks);
}

static inline uint64_t it_clock_convert(it_clock_conv *c, double k, uint64_t ticks) {
    uint64_t ns = ticks;
    if (it_clock_tsc) {
        /* signed: a record stamped just before the previous sample but
         * published after it lies slightly to its left */
        double d = (double)(int64_t)(ticks - c->prev.ticks) * k;
        ns = (uint64_t)((int64_t)c->prev.ns + (int64_t)d);
    }
    if (ns < c->last_ns)
        ns = c->last_ns;
    c->last_ns = ns;
    return ns;
}

static inline void it_clock_end(it_clock_conv *c, const it_clock_point *now) {
    if (now->ticks > c->prev.ticks && now->ns > c->prev.ns)
        c->prev = *now;
}

#if defined(__x86_64__)
static int it_clock_tsc_usable(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(0x80000000u, &a, &b, &c, &d) || a < 0x80000007u)
        return 0;
    __cpuid(0x80000007u, a, b, c, d);
    if (!(d & (1u << 8)))
        return 0;  /* no invariant TSC */
    char buf[32] = {0};
    int fd = open("/sys/devices/system/clocksource/clocksource0/current_clocksource", O_RDONLY);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    return n >= 3 && strncmp(buf, "tsc", 3) == 0 && (n == 3 || buf[3] == '\n');
}
#endif

/* At import.  Returns the clock's name, for tracing_stats(). */
static const char *it_clock_init(void) {
    const char *want = getenv("INFI_TRACING_CLOCK");
    it_clock_tsc = 0;
#if defined(__x86_64__)
    if (!(want && strcmp(want, "monotonic") == 0) && it_clock_tsc_usable())
        it_clock_tsc = 1;
#endif
    (void)want;
    return it_clock_tsc ? "tsc" : "monotonic";
}

#endif
