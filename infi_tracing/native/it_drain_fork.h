/* The drain across fork(): paused in the forking process (no drain thread,
 * and no drain lock held, while the process forks), started anew in the
 * child with its own state. */
#ifndef IT_DRAIN_FORK_H
#define IT_DRAIN_FORK_H

#include "it_drain.h"

/* Without the GIL, before a fork: the drain thread ends without a last pass,
 * so no drain lock is held across the fork and the forking process has no
 * extra thread then (CPython 3.12+ warns about forking with threads).
 * Returns 1 when it was running (restart it in the parent afterwards).
 * Records keep accumulating in the rings meanwhile; blocked producers wait. */
static int it_drain_pause(void) {
    pthread_mutex_lock(&it_d.mu);
    if (!it_d.running) {
        pthread_mutex_unlock(&it_d.mu);
        return 0;
    }
    it_d.stop = 2;
    pthread_cond_signal(&it_d.wake);
    pthread_mutex_unlock(&it_d.mu);
    pthread_join(it_d.thread, NULL);
    __atomic_store_n(&it_d.running, 0, __ATOMIC_RELEASE);
    /* flushes waiting on the drain: the restarted drain answers them */
    return 1;
}

/* In a forked child (one thread, the forking one): the drain thread does
 * not exist here and its locks may have been held at fork time. */
static void it_drain_after_fork_child(it_ring *mine) {
    pthread_mutex_init(&it_d.mu, NULL);
    pthread_mutex_init(&it_d.sinks_mu, NULL);
    pthread_cond_init(&it_d.wake, NULL);
    pthread_cond_init(&it_d.done, NULL);
    it_d.running = 0;
    it_d.stop = 0;
    it_drain_restart_deferred = 0;  /* the parent's; the child starts its own drain */
    it_d.accepting = 0;
    it_d.flush_req = it_d.flush_done = 0;
    it_d.pid = (long)getpid();
    it_drain_python_after_fork_child();
    it_drain_pair_reset();  /* the parent's open calls are not the child's */
    /* The parent writes what it had buffered; the child starts empty. */
    for (int i = 0; i < it_d.nsinks; i++) {
        it_sink *s = it_d.sinks[i];
        s->len = 0;
        s->nmarks = 0;
        s->cut = 0;
        atomic_store(&s->pending, 0);  /* the parent's to write */
        if (s->syslog)
            it_syslog_after_fork(s->syslog);
        if (s->binary)
            it_binary_after_fork(s->binary);
        if (s->pftrace)
            it_sink_pftrace_after_fork(s, it_d.pid);
        if (s->flight)
            it_flight_after_fork(s->flight);  /* the child records its own past */
        if (s->slow)
            it_slow_after_fork(s->slow);
    }
    it_ring *adopted = atomic_exchange(&it_d.adopt, NULL);
    while (adopted) {
        it_ring *next = adopted->next;
        adopted->next = it_d.rings;
        it_d.rings = adopted;
        adopted = next;
    }
    for (it_ring *r = it_d.rings; r; r = r->next) {
        uint64_t head = atomic_load(&r->head);
        atomic_store(&r->tail, head);
        atomic_store(&r->conv_state, head << 1);
        r->cached_tail = head;
        r->drain_gid = r->last_gid;  /* the child's next compact record is in it */
        atomic_store(&r->lost_pending, 0);
        if (r != mine)
            atomic_store(&r->dead, 1);  /* those threads do not exist here */
    }
}

#endif
