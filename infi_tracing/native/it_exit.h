/* Exit's bound on waiting for a sink: the one home of the rule and its
 * constant.  At interpreter exit nothing waits longer than
 * IT_EXIT_SINK_WAIT_MS for one sink: a Python sink's write() (the drain,
 * it_drain_python.h), flush() or close() (exit.pyx, it_exit_call.h), a
 * native sink's descriptor that takes no byte (it_sink_wait.h).  The sink
 * is then given up on: what it did not take is counted lost, and a line on
 * stderr says so.  Before exit, sinks keep their normal semantics: a FIFO
 * whose reader is slow holds the drain back (backpressure, on purpose). */
#ifndef IT_EXIT_H
#define IT_EXIT_H

#include "it_clock.h"
#include <stdatomic.h>
#include <stdint.h>

/* How long exit waits for one sink. */
#define IT_EXIT_SINK_WAIT_MS 5000

/* it_now_ns() when exit began (0: it has not).  Written by the exiting
 * thread, read by the drain thread while it waits for a descriptor.  A lone
 * value: no other data is published with it, so relaxed ordering suffices;
 * the drain sees it at its next wait slice at the latest. */
static _Atomic uint64_t it_exit_since_ns;

/* Any thread, with or without the GIL. */
static inline void it_exit_begin(void) {
    uint64_t now = it_now_ns();
    atomic_store_explicit(&it_exit_since_ns, now ? now : 1, memory_order_relaxed);
}

/* Tracing starts again (a new drain after exit's stop): no exit now. */
static inline void it_exit_forget(void) {
    atomic_store_explicit(&it_exit_since_ns, 0, memory_order_relaxed);
}

/* 1 when a wait that began at `wait_start_ns` (it_now_ns()) has lasted the
 * exit bound, counted from exit's start at the earliest: before exit, a
 * wait is never too long. */
static inline int it_exit_wait_over(uint64_t wait_start_ns) {
    uint64_t since = atomic_load_explicit(&it_exit_since_ns, memory_order_relaxed);
    if (!since)
        return 0;
    if (since < wait_start_ns)
        since = wait_start_ns;
    return it_now_ns() - since >= (uint64_t)IT_EXIT_SINK_WAIT_MS * 1000000u;
}

#endif
