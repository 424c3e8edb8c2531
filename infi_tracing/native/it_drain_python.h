/* The drain thread's Python side: its thread state, kept between Python
 * sink batches, and exit's bounded wait for a Python sink that does not
 * return.
 *
 * Exit (it_drain_stop) waits for the drain's last pass; a Python sink call
 * the drain has been in for longer than the bound is given up on: exit
 * marks the drain abandoned and goes on to finalize the interpreter.  From
 * then on the drain thread must not take the GIL again (its thread state
 * may be gone): if the sink call ever returns, the drain parks for good
 * instead of touching Python or the sinks again.  `it_dpy.mu` makes "the
 * drain is in a Python call" and "exit gave up on it" exclusive: the drain
 * holds it while it takes the GIL, so exit never gives up on a drain half
 * way into Python.  Exit takes it without the GIL (lock order: never wait
 * for `mu` while holding the GIL). */
#ifndef IT_DRAIN_PYTHON_H
#define IT_DRAIN_PYTHON_H

#include "it_sinks.h"  /* and it_exit.h: IT_EXIT_SINK_WAIT_MS, the bound */
#include <pthread.h>
#include <unistd.h>

typedef struct {
    pthread_mutex_t mu;
    it_sink *sink;       /* the Python sink the drain is calling now (NULL: none) */
    int index;           /* its place in the sink list */
    size_t records;      /* records in the batch it was handed */
    uint64_t since_ns;   /* it_now_ns() when the call began */
    const it_ring *ring; /* the ring being drained (NULL: none), and where its batch ends */
    uint64_t batch_end;
    int abandoned;       /* exit gave up on the drain (atomic reads without `mu`) */
} it_drain_py_t;

static it_drain_py_t it_dpy = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* The drain thread's Python thread state, created on the first Python
 * sink batch and kept (GIL released) between batches, so that a batch costs
 * one GIL acquisition and no thread-state creation. */
static PyThreadState *it_drain_pystate;
/* 1 on the drain pthread.  A pass can also run on a Python thread (a flush
 * while no drain runs): that thread has its own state and must not adopt
 * the drain's, nor lend its own to the drain. */
static __thread int it_on_drain_thread;

static inline int it_drain_abandoned(void) {
    return __atomic_load_n(&it_dpy.abandoned, __ATOMIC_ACQUIRE);
}

/* The drain thread after exit gave up on it: it holds `sinks_mu` and may be
 * in the middle of a pass, so it stays here until the process ends. */
static void it_drain_park(void) {
    for (;;)
        pause();
}

/* Drain thread: take the GIL to hand sink `s` (number `index`) a batch of
 * `records` records. */
static void it_drain_enter_python(it_sink *s, int index, size_t records) {
    pthread_mutex_lock(&it_dpy.mu);
    if (it_dpy.abandoned) {
        pthread_mutex_unlock(&it_dpy.mu);
        it_drain_park();
    }
    it_dpy.sink = s;
    it_dpy.index = index;
    it_dpy.records = records;
    it_dpy.since_ns = it_now_ns();
    if (!it_drain_pystate) {
        PyGILState_Ensure();  /* creates this thread's state and takes the GIL */
        it_drain_pystate = PyThreadState_Get();
    } else {
        PyEval_RestoreThread(it_drain_pystate);
    }
    pthread_mutex_unlock(&it_dpy.mu);
}

/* Drain thread, the sink call returned: release the GIL; park if exit gave
 * up on this call meanwhile (it counted the batch lost already). */
static void it_drain_leave_python(void) {
    PyEval_SaveThread();
    pthread_mutex_lock(&it_dpy.mu);
    int abandoned = it_dpy.abandoned;
    if (!abandoned)
        it_dpy.sink = NULL;  /* abandoned: exit reads which sink it gave up on */
    pthread_mutex_unlock(&it_dpy.mu);
    if (abandoned)
        it_drain_park();
}

/* Drain thread, before it exits: give its Python thread state back. */
static void it_drain_forget_python(void) {
    if (it_drain_pystate) {
        PyEval_RestoreThread(it_drain_pystate);
        it_drain_pystate = NULL;
        PyGILState_Release(PyGILState_UNLOCKED);
    }
}

/* Exit, without the GIL: give up on the drain if it has been in one Python
 * sink call for more than `ms`.  Returns 1 when it did. */
static int it_drain_give_up_if_stuck(long ms) {
    pthread_mutex_lock(&it_dpy.mu);
    int stuck = it_dpy.sink && it_now_ns() - it_dpy.since_ns > (uint64_t)ms * 1000000u;
    if (stuck)
        __atomic_store_n(&it_dpy.abandoned, 1, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&it_dpy.mu);
    return stuck;
}

/* Exit gave up on the drain: records of ring `r` no sink will get (those
 * past the batch it was delivering when it is `it_dpy.ring`).  "Lost"
 * notices are not records; the drops they report are counted already. */
static uint64_t it_drain_ring_undelivered(const it_ring *r) {
    uint64_t pos = atomic_load_explicit(&r->tail, memory_order_relaxed), k = 0;
    uint64_t head = atomic_load_explicit(&r->head, memory_order_acquire);
    if (r == it_dpy.ring && it_dpy.batch_end > pos)
        pos = it_dpy.batch_end;
    while (pos < head) {
        const it_record *rec = (const it_record *)(r->dbuf + (pos & r->dmask));
        if (it_record_is_compact(rec)) {
            pos += IT_COMPACT_SIZE;
            k++;
            continue;
        }
        pos += rec->size;
        k += rec->event != IT_EV_PAD && !it_event_is_notice(rec->event);
    }
    return k;
}

/* The same for every ring of a list (the drain parks, never to read them). */
static uint64_t it_drain_rings_undelivered(it_ring *r) {
    uint64_t k = 0;
    for (; r; r = r->next)
        k += it_drain_ring_undelivered(r);
    return k;
}

/* In a forked child: no drain thread, and the lock may have been held. */
static void it_drain_python_after_fork_child(void) {
    pthread_mutex_init(&it_dpy.mu, NULL);
    it_dpy.sink = NULL;
    it_dpy.ring = NULL;
    it_dpy.abandoned = 0;
    it_drain_pystate = NULL;  /* CPython deleted the drain's thread state in the child */
}

#endif
