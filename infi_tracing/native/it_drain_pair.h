/* The live drain's pairing (it_pair.h, the one home of the rule): every
 * record of every ring goes through one pairer before the sinks see its
 * batch, so that an exit carries its call's duration (text " [1.132456 ms]",
 * JSON lines and Python sinks "duration_ns", syslog as text) and each code
 * registry entry adds up total and self time for run's exit summary.
 *
 * Keys: pid = the process's, tid = the ring's thread; greenlet ids are the
 * tracer's small ids.  A "lost" record forgets its thread's open calls (a
 * duration after a gap is left out, never wrong), and so does the freeing
 * of a dead thread's ring (its id may come back with a new thread).
 *
 * Ownership: drain-private.  Only a pass touches it, and a pass holds
 * `sinks_mu` (the drain thread, or a thread doing the pass itself), so no
 * other lock; the hook never sees it.  A forked child starts with an empty
 * pairer (it_drain_pair_reset).  tracing_stats() reads only the atomic
 * copies kept here, never the pairer itself. */
#ifndef IT_DRAIN_PAIR_H
#define IT_DRAIN_PAIR_H

#include "it_pair.h"
#include "it_registry.h"
#include "it_ring.h"

typedef struct {
    it_pair pair;
    int ready;                /* it_pair_init tried (a failed init leaves every duration unknown) */
    _Atomic uint32_t live;    /* it_pair_live() after the last pass: threads + greenlets with open calls */
    _Atomic uint64_t switches;  /* greenlet switch records drained (counted by the drain) */
} it_drain_pair_t;

static it_drain_pair_t it_dp;

/* Runs `rec` (its time already in ns) of thread `tid` through the pairer.
 * Returns the duration of an exit whose entry was seen, else -1. */
static inline int64_t it_drain_pair_record(long pid, long tid, const it_record *rec) {
    it_pair *p = &it_dp.pair;
    if (IT_UNLIKELY(!it_dp.ready)) {
        it_pair_init(p);  /* on failure it stays zeroed: every lookup finds nothing */
        it_dp.ready = 1;
    }
    switch (rec->event) {
    case IT_EV_CALL:
    case IT_EV_RESUME:
        it_pair_enter(p, pid, tid, rec->greenlet_id, rec->depth, rec->code_id, rec->ts);
        return -1;
    case IT_EV_RETURN:
    case IT_EV_UNWIND:
    case IT_EV_YIELD: {
        it_pair_result res;
        if (!it_pair_exit(p, pid, tid, rec->greenlet_id, rec->depth, rec->ts, &res))
            return -1;
        it_code_entry *e = it_registry_get(res.code);
        it_registry_bump(&e->total_ns, (uint64_t)res.wall_ns);
        it_registry_bump(&e->self_ns, (uint64_t)res.self_active_ns);
        return res.wall_ns;
    }
    case IT_EV_SWITCH:  /* greenlet_id: the one switched to */
        it_pair_switch(p, pid, tid, rec->greenlet_id, rec->ts);
        return -1;
    case IT_EV_LOST:
        it_pair_lost_thread(p, pid, tid);
        return -1;
    default:
        return -1;
    }
}

/* The thread's ring is freed: forget what it left open. */
static inline void it_drain_pair_forget_thread(long pid, long tid) {
    if (it_dp.ready)
        it_pair_lost_thread(&it_dp.pair, pid, tid);
}

/* End of a pass: publish the count for tracing_stats(). */
static inline void it_drain_pair_publish(void) {
    atomic_store_explicit(&it_dp.live, it_pair_live(&it_dp.pair), memory_order_relaxed);
}

/* Pairing nodes in use after the last pass (any thread, for tracing_stats()). */
static inline uint32_t it_dp_live(void) {
    return atomic_load_explicit(&it_dp.live, memory_order_relaxed);
}

/* Every open call forgotten: the pairing stops, or the process forked. */
static inline void it_drain_pair_forget_all(void) {
    if (it_dp.ready)
        it_pair_destroy(&it_dp.pair);
    it_dp.ready = 0;
    atomic_store_explicit(&it_dp.live, 0, memory_order_relaxed);
}

/* A forked child: the parent's open calls are not the child's (the drain
 * was paused across the fork, so the pairer is whole and can be freed). */
static inline void it_drain_pair_reset(void) {
    it_drain_pair_forget_all();
    atomic_store_explicit(&it_dp.switches, 0, memory_order_relaxed);
}

#endif
