/* The drain's side of slow-call retention (it_slow.h): a sink with a
 * filter gets, instead of the ring's batch, what its filter lets through,
 * in batches of at most IT_BATCH_MAX; what a filter holds for a thread is
 * written when the thread's ring is freed and when the drain stops (calls
 * that never returned: an unfiltered sink shows them too).
 * Included by it_drain.h after it_deliver_one; drain pass only (`sinks_mu`). */
#ifndef IT_DRAIN_SLOW_H
#define IT_DRAIN_SLOW_H

#include "it_slow.h"

/* The filter's output so far, to sink `i`, then emptied. */
static void it_drain_slow_write(int i, const it_ring *r) {
    it_slow *f = it_d.sinks[i]->slow;
    const it_record *batch[IT_BATCH_MAX];
    for (size_t k = 0; k < f->nout;) {
        size_t n = 0, first = k;
        for (; k < f->nout && n < IT_BATCH_MAX; k++)
            batch[n++] = it_slow_out_rec(f, k);
        it_deliver_one(i, r, batch, f->durs + first, n);
    }
    it_slow_out_clear(f);
}

static void it_drain_slow_deliver(int i, const it_ring *r, const it_record **recs, size_t n) {
    it_slow_feed(it_d.sinks[i]->slow, r->tid, recs, n);
    it_drain_slow_write(i, r);
}

/* The ring of a thread that ended is freed: what filters hold of it is written. */
static void it_drain_slow_thread_gone(const it_ring *r) {
    for (int i = 0; i < it_d.nsinks; i++)
        if (it_d.sinks[i]->slow) {
            it_slow_forget_thread(it_d.sinks[i]->slow, r->tid);
            it_drain_slow_write(i, r);
        }
}

/* Sink `i`'s filter writes what it holds, thread by thread (a sink writes a
 * batch as one thread's; `tid` is all it reads of the ring). */
static void it_drain_slow_release(int i) {
    it_slow *f = it_d.sinks[i]->slow;
    if (!f)
        return;
    for (;;) {
        long tid = 0;
        int any = 0;
        for (unsigned b = 0; b < IT_SLOW_BUCKETS && !any; b++)
            if (f->buckets[b]) {
                tid = f->buckets[b]->tid;
                any = 1;
            }
        if (!any)
            return;
        static it_ring fake;  /* under sinks_mu: one user at a time */
        fake.tid = tid;
        it_slow_forget_thread(f, tid);
        it_drain_slow_write(i, &fake);
    }
}

/* The drain stops: every filter writes what it holds. */
static void it_drain_slow_release_all(void) {
    for (int i = 0; i < it_d.nsinks; i++)
        it_drain_slow_release(i);
}

/* With `sinks_mu`, without the GIL, before the sink list becomes `next` (n
 * sinks): the native sinks leaving it write what their filters hold
 * (records handed to them are theirs to write).  Not a Python sink: this
 * runs on the thread changing the sinks, and a Python sink's batch must be
 * run by the drain (it_drain_python.h); it keeps what it held, unwritten. */
static void it_drain_slow_release_leaving(it_sink *const *next, int n) {
    for (int i = 0; i < it_d.nsinks; i++) {
        int stays = it_d.sinks[i]->kind == IT_SINK_PY;
        for (int k = 0; k < n && !stays; k++)
            stays = next[k] == it_d.sinks[i];
        if (stays || !it_d.sinks[i]->slow)
            continue;
        it_sink *s = it_d.sinks[i];
        it_drain_slow_release(i);
        /* out now: no pass writes a sink that left the list (the flush before the
         * change wrote the rest); a syslog sink sends what it can without waiting */
        if ((s->kind == IT_SINK_FD || s->kind == IT_SINK_BINARY || s->kind == IT_SINK_PFTRACE) &&
            s->len)
            it_sink_write_out(s);
        else if (s->kind == IT_SINK_SYSLOG)
            it_syslog_pump(s->syslog);
    }
}

#endif
