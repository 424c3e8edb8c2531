/* The drain: one native pthread (created here, so gevent's monkey-patching
 * cannot turn it into a greenlet) that empties every thread's ring, formats
 * records for the native sinks without the GIL, and hands batches to Python
 * sinks with the GIL taken once per batch.
 *
 * Locks: `mu` guards the flush/stop handshake and the idle sleep; `sinks_mu`
 * guards the sink list and is held by the drain while it writes.  Anyone
 * taking either lock from Python must release the GIL first, because the
 * drain may wait for the GIL (Python sinks) while holding `sinks_mu`.
 * Rings reach the drain through a lock-free stack (`adopt`), so a traced
 * thread registering its ring never waits for the drain. */
#ifndef IT_DRAIN_H
#define IT_DRAIN_H

#include "it_sinks.h"
#include "it_sink_pftrace.h"
#include "it_flight.h"
#include "it_drain_python.h"
#include "it_drain_pair.h"
#include <errno.h>
#include <pthread.h>
#include <unistd.h>

#define IT_BATCH_MAX 1024
#define IT_IDLE_NS 10000000L  /* drain sleeps 10 ms when every ring is empty */
/* Pacing.  A drain that starts its next pass as soon as one delivered
 * anything reads each record right after it is written: the cache lines the
 * producer is filling, and `head` itself, then bounce between the two cores
 * on every record.  Measured on 3.12 (benchmarks/NOTES.md, "Third pass"):
 * the traced thread's own CPU time on a tight loop went from 2.58x to 2.20x
 * of untraced when the drain waited between light passes.  So after a pass
 * in which no ring held more than 1/IT_PACE_FILL of its capacity, the drain
 * waits a little (woken early by a flush, a stop or a blocked producer).
 * The wait is short enough that even a producer writing one 16-byte record
 * every 8 ns fills at most a quarter of the smallest ring meanwhile. */
#define IT_PACE_FILL 64
#define IT_PACE_MAX_NS 1000000L   /* 1 ms: records reach the sinks within ~1 ms */


/* Python-side batch delivery, implemented in Cython; called with the GIL.
 * `durs[i]`: the duration of exit recs[i] (ns), negative when unknown. */
typedef void (*it_py_batch_fn)(it_sink *s, const it_ring *r, const it_record **recs,
                               const int64_t *durs, size_t n, long pid, int64_t wall_offset);

typedef struct {
    pthread_t thread;
    int running;
    int stop;                   /* 1: stop after a last pass; 2: pause (fork), no last pass */
    int finished;               /* the drain thread has ended (or is about to) */
    int accepting;              /* tracing may wait for the drain (block mode) */
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    uint64_t flush_req, flush_done;
    pthread_mutex_t sinks_mu;
    it_sink **sinks;
    int nsinks;
    _Atomic(it_ring *) adopt;   /* rings registered since the last pass */
    it_ring *rings;             /* drain-private list */
    it_py_batch_fn py_batch;
    /* the pairing (it_drain_pair.h) runs: a sink shows durations, or run's
     * summary wants times (`times_wanted`); both under `sinks_mu` */
    int pairing, times_wanted;
    int64_t wall_offset;        /* realtime - monotonic, ns */
    long pid;
    /* totals of rings already freed, for tracing_stats() */
    _Atomic uint64_t exited_records, exited_lost, exited_threads;
} it_drain_t;

/* Called by the drain thread after each pass, no lock held, when set (the
 * flight recorder's fatal-signal snapshots: it_flight_fatal.h).  Set once,
 * before a fatal signal can ask for it. */
static void (*it_drain_after_pass)(void);

static it_drain_t it_d = {.mu = PTHREAD_MUTEX_INITIALIZER,
          .wake = PTHREAD_COND_INITIALIZER,
          .done = PTHREAD_COND_INITIALIZER,
          .sinks_mu = PTHREAD_MUTEX_INITIALIZER};

/* A blocked producer may keep waiting: the drain runs, or is only paused
 * for a fork and comes back. */
static inline int it_drain_running(void) {
    return __atomic_load_n(&it_d.accepting, __ATOMIC_ACQUIRE);
}

static inline void it_drain_wake(void) {
    pthread_mutex_lock(&it_d.mu);
    pthread_cond_signal(&it_d.wake);
    pthread_mutex_unlock(&it_d.mu);
}

/* Without the GIL (see the lock order above).  Returns 0 without the lock
 * once exit gave up on the drain: it keeps `sinks_mu` for good, and never
 * reads the sink list again. */
static inline int it_drain_lock_sinks(void) {
    if (it_drain_abandoned())
        return 0;
    pthread_mutex_lock(&it_d.sinks_mu);
    return 1;
}
static inline void it_drain_unlock_sinks(void) { pthread_mutex_unlock(&it_d.sinks_mu); }

/* With `sinks_mu` held: pair records only when someone uses the result --
 * a sink other than a binary file or the flight recorder (the others all
 * show durations), a recorder with slow-call rules, or run's summary -- so
 * a binary file alone drains at full speed.  A sink with slow-call
 * retention pairs in its own filter (it_slow.h).  A pairer
 * switched off is emptied: it must not pair across records it never saw. */
static inline void it_drain_update_pairing(void) {
    int want = it_d.times_wanted;
    for (int i = 0; i < it_d.nsinks && !want; i++)
        want = it_d.sinks[i]->slow ? 0
               : it_d.sinks[i]->kind == IT_SINK_FLIGHT ? it_d.sinks[i]->flight->slow != NULL
                                                       : it_d.sinks[i]->kind != IT_SINK_BINARY;
    if (!want && it_d.pairing)
        it_drain_pair_forget_all();
    it_d.pairing = want;
}

/* Any thread, with or without the GIL: hand a new ring to the drain. */
static inline void it_drain_adopt(it_ring *r) {
    it_ring *old = atomic_load_explicit(&it_d.adopt, memory_order_relaxed);
    do {
        r->next = old;
    } while (!atomic_compare_exchange_weak_explicit(&it_d.adopt, &old, r, memory_order_release,
                                                    memory_order_relaxed));
}

/* A batch to one sink (`i`: its index). */
static void it_deliver_one(int i, const it_ring *r, const it_record **recs, const int64_t *durs,
                           size_t n) {
    it_sink *s = it_d.sinks[i];
    if (s->kind == IT_SINK_FD)
        it_sink_fd_batch(s, r, recs, durs, n, it_d.pid, it_d.wall_offset);
    else if (s->kind == IT_SINK_BINARY)
        it_sink_binary_batch(s, r, recs, n, it_d.pid, it_d.wall_offset);
    else if (s->kind == IT_SINK_PFTRACE)
        it_sink_pftrace_batch(s, r, recs, n, it_d.pid, it_d.wall_offset);
    else if (s->kind == IT_SINK_FLIGHT)
        it_flight_batch(s->flight, &s->records, &s->lost, r, recs, durs, n, it_d.pid,
                        it_d.wall_offset);
    else if (s->kind == IT_SINK_SYSLOG)
        it_syslog_batch(s->syslog, r, recs, durs, n, it_d.pid, it_d.wall_offset, s->values);
    else if (it_d.py_batch && it_on_drain_thread) {
        it_drain_enter_python(s, i, it_count_records(recs, n));
        it_d.py_batch(s, r, recs, durs, n, it_d.pid, it_d.wall_offset);
        it_drain_leave_python();
    } else if (it_d.py_batch) {
        PyGILState_STATE g = PyGILState_Ensure();
        it_d.py_batch(s, r, recs, durs, n, it_d.pid, it_d.wall_offset);
        PyGILState_Release(g);
    }
}

#include "it_drain_slow.h"

/* A batch to every sink.  `durs` runs beside `recs` (it_drain_pair.h):
 * filled once by the pass, read by every sink that shows durations.  A
 * sink with slow-call retention gets what its filter lets through. */
static void it_deliver(const it_ring *r, const it_record **recs, const int64_t *durs, size_t n) {
    if (!n)
        return;
    for (int i = 0; i < it_d.nsinks; i++) {
        if (it_d.sinks[i]->slow)
            it_drain_slow_deliver(i, r, recs, n);
        else
            it_deliver_one(i, r, recs, durs, n);
    }
}

/* `final` of a pass: */
enum { IT_PASS_PACED = 0, IT_PASS_FLUSH = 1, IT_PASS_LAST = 2 };

/* Write out buffers; a flush or the last pass: syslog sinks may wait for
 * their server up to their flush timeout.  The last pass (the drain stops)
 * gives up what a syslog sink still spools, and what an fd sink kept of a
 * unit its fd took part of: nothing will send it. */
static void it_flush_sinks(int final) {
    if (final == IT_PASS_LAST)
        it_drain_slow_release_all();  /* what retention holds is written */
    for (int i = 0; i < it_d.nsinks; i++) {
        it_sink *s = it_d.sinks[i];
        if (s->kind == IT_SINK_PFTRACE && final == IT_PASS_LAST)
            it_sink_pftrace_finish(s);  /* slices still open end with the trace */
        if ((s->kind == IT_SINK_FD || s->kind == IT_SINK_BINARY || s->kind == IT_SINK_PFTRACE) &&
            s->len) {
            it_sink_write_out(s);
            if (final == IT_PASS_LAST && s->len)
                it_sink_settle(s, 0, 0);  /* the rest of a cut unit: nothing will write it */
        }
        else if (s->kind == IT_SINK_SYSLOG && final)
            it_syslog_flush(s->syslog, s->flush_timeout_ms);
        else if (s->kind == IT_SINK_SYSLOG)
            it_syslog_pump(s->syslog);
        if (s->kind == IT_SINK_SYSLOG && final == IT_PASS_LAST)
            it_syslog_give_up(s->syslog);
    }
}

/* ---- draining ------------------------------------------------------- */

/* Drain one ring up to the head seen now.  Returns records delivered;
 * `*heavy` becomes 1 if the ring held more than 1/IT_PACE_FILL of its
 * capacity (the drain should not pause before its next pass). */
static size_t it_drain_ring(it_ring *r, int *heavy) {
    const it_record *batch[IT_BATCH_MAX];
    int64_t durs[IT_BATCH_MAX];        /* each record's duration (it_drain_pair.h) */
    it_record expanded[IT_BATCH_MAX];  /* compact records, made whole for the sinks */
    uint64_t ends[IT_BATCH_MAX];       /* ring position after each (crash-survival file) */
    uint32_t gid = r->drain_gid;
    uint64_t head = atomic_load_explicit(&r->head, memory_order_acquire);
    uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    size_t total = 0, calls = 0;  /* calls: the batch's records, without "lost" notices */
    if (tail == head)
        return 0;
    if ((head - tail) * IT_PACE_FILL > r->dcap)
        *heavy = 1;
    /* after the acquire of head: every record up to it was stamped before */
    it_clock_point now;
    double k = it_clock_begin(&r->conv, &now);
    while (tail < head) {
        size_t n = 0;
        uint64_t pos = tail;
        while (pos < head && n < IT_BATCH_MAX) {
            /* the bytes up to head are the drain's until tail moves past them */
            it_record *rec = (it_record *)(r->dbuf + (pos & r->dmask));
            if (it_record_is_compact(rec)) {
                it_compact_expand((const it_compact *)rec, gid, &expanded[n]);
                rec = &expanded[n];
                pos += IT_COMPACT_SIZE;
            } else {
                pos += rec->size;
                if (rec->event == IT_EV_PAD)
                    continue;
                if (rec->event != IT_EV_LOST)
                    gid = rec->greenlet_id;  /* see it_emit: last_gid */
            }
            if (rec != &expanded[n] && r->in_file) {
                /* in place, in a ring of the crash-survival file: recover
                 * must know which records past `tail` carry nanoseconds */
                uint64_t at = pos - rec->size;
                atomic_store_explicit(&r->conv_state, at << 1 | 1, memory_order_release);
                rec->ts = it_clock_convert(&r->conv, k, rec->ts);
                atomic_store_explicit(&r->conv_state, pos << 1, memory_order_release);
            } else {
                rec->ts = it_clock_convert(&r->conv, k, rec->ts);
            }
            if (rec->event == IT_EV_LOST) {
                if (!rec->count)
                    continue;
                atomic_fetch_add_explicit(&r->lost_in_stream, rec->count, memory_order_relaxed);
            } else if (!it_event_is_notice(rec->event)) {
                calls++;
                if (rec->event == IT_EV_CALL)
                    it_registry_bump(&it_registry_get(rec->code_id)->calls, 1);
            } else {
                it_registry_bump(&it_dp.switches, 1);  /* the other notice */
            }
            durs[n] = it_d.pairing ? it_drain_pair_record(it_d.pid, r->tid, rec) : -1;
            ends[n] = pos;
            batch[n++] = rec;
        }
        /* counted before delivery: exit may give up on a sink in the middle of it */
        atomic_fetch_add_explicit(&r->drained, calls, memory_order_relaxed);
        calls = 0;
        it_dpy.ring = r;  /* for exit, should it give up on a sink (it_drain_python.h) */
        it_dpy.batch_end = pos;
        it_flight_ring_ends = ends;
        it_deliver(r, batch, durs, n);
        it_flight_ring_ends = NULL;
        total += n;
        tail = pos;
        r->drain_gid = gid;  /* with tail: a paused drain resumes at both */
        /* release: we are done reading these bytes before the producer reuses them */
        atomic_store_explicit(&r->tail, tail, memory_order_release);
    }
    it_dpy.ring = NULL;
    it_clock_end(&r->conv, &now);
    return total;
}

/* Drops the producer has not reported yet (it may be idle or gone): claim
 * them and put a LOST record in the stream. */
static void it_drain_report_pending_lost(it_ring *r) {
    uint64_t n = atomic_exchange_explicit(&r->lost_pending, 0, memory_order_relaxed);
    if (!n)
        return;
    it_record rec;
    it_record_lost(&rec, n, it_now_ns());
    const it_record *p = &rec;
    int64_t dur = -1;
    it_drain_pair_forget_thread(it_d.pid, r->tid);  /* as a "lost" record does */
    atomic_fetch_add_explicit(&r->lost_in_stream, n, memory_order_relaxed);
    it_deliver(r, &p, &dur, 1);
}

/* One pass over every ring; frees rings of exited threads once empty.
 * `final`: also report drops still pending in live rings (flush).  Sets
 * `*pace_ns` (if given) to how long to wait before the next pass (0: go on at once). */
static size_t it_drain_pass(int final, long *pace_ns) {
    it_ring *adopted = atomic_exchange_explicit(&it_d.adopt, NULL, memory_order_acquire);
    while (adopted) {
        it_ring *next = adopted->next;
        adopted->next = it_d.rings;
        it_d.rings = adopted;
        adopted = next;
    }
    size_t total = 0;
    int heavy = 0;
    long pace = IT_PACE_MAX_NS;
    pthread_mutex_lock(&it_d.sinks_mu);
    it_ring **link = &it_d.rings;
    while (*link) {
        it_ring *r = *link;
        int dead = atomic_load_explicit(&r->dead, memory_order_acquire);
        total += it_drain_ring(r, &heavy);
        if ((long)(r->dcap / 4 / 2) < pace)  /* a quarter of it at 2 bytes per ns */
            pace = (long)(r->dcap / 4 / 2);
        if (dead || final)
            it_drain_report_pending_lost(r);
        if (dead) {
            *link = r->next;
            atomic_fetch_add(&it_d.exited_records, atomic_load(&r->drained));
            atomic_fetch_add(&it_d.exited_lost, atomic_load(&r->lost_total));
            atomic_fetch_add(&it_d.exited_threads, 1);
            it_drain_pair_forget_thread(it_d.pid, r->tid);
            it_drain_slow_thread_gone(r);
            it_ring_free(r);
        } else {
            link = &r->next;
        }
    }
    it_flush_sinks(final);  /* also lets syslog sinks reconnect and resend while idle */
    it_drain_pair_publish();
    it_ff_calibrate();
    pthread_mutex_unlock(&it_d.sinks_mu);
    if (pace_ns)
        *pace_ns = total && !heavy ? pace : 0;
    return total;
}

static void *it_drain_main(void *arg) {
    (void)arg;
    it_on_drain_thread = 1;
    pthread_mutex_lock(&it_d.mu);
    while (!it_d.stop) {
        uint64_t req = it_d.flush_req;
        pthread_mutex_unlock(&it_d.mu);
        long pace_ns = 0;
        size_t n = it_drain_pass(req != it_d.flush_done, &pace_ns);
        if (IT_UNLIKELY(it_drain_after_pass != NULL))
            it_drain_after_pass();
        pthread_mutex_lock(&it_d.mu);
        if (req != it_d.flush_done) {
            it_d.flush_done = req;
            pthread_cond_broadcast(&it_d.done);
        }
        if ((!n || pace_ns) && !it_d.stop && it_d.flush_req == req) {
            struct timespec until = it_clock_deadline(n ? pace_ns : IT_IDLE_NS);
            pthread_cond_timedwait(&it_d.wake, &it_d.mu, &until);
        }
    }
    int last_pass = it_d.stop == 1;
    pthread_mutex_unlock(&it_d.mu);
    if (last_pass)
        it_drain_pass(IT_PASS_LAST, NULL);  /* last records, then stop */
    it_drain_forget_python();
    pthread_mutex_lock(&it_d.mu);
    it_d.finished = 1;
    it_d.flush_done = it_d.flush_req;
    pthread_cond_broadcast(&it_d.done);
    pthread_mutex_unlock(&it_d.mu);
    return NULL;
}

/* Without the GIL.  Returns 0 or an errno value. */
static int it_drain_start(void) {
    if (it_d.running)
        return 0;
    if (it_drain_abandoned())
        return EBUSY;  /* exit gave up on the drain: the interpreter is ending */
    it_d.stop = 0;
    it_d.finished = 0;
    it_exit_forget();  /* tracing again after exit's stop: sinks wait as before exit */
    it_d.pid = (long)getpid();
    it_d.wall_offset = (int64_t)(it_realtime_ns() - it_now_ns());
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    int rc = pthread_create(&it_d.thread, &attr, it_drain_main, NULL);
    pthread_attr_destroy(&attr);
    if (rc == 0) {
        __atomic_store_n(&it_d.running, 1, __ATOMIC_RELEASE);
        __atomic_store_n(&it_d.accepting, 1, __ATOMIC_RELEASE);
    }
    return rc;
}

/* Python 3.13 counts the process's threads for its "fork() with threads"
 * warning after the at-fork hooks have run in the parent, so a drain
 * restarted there would make every fork of a single-threaded program warn.
 * The parent's main thread then defers the restart to a pending call, run
 * as soon as it executes Python code again.  Until then records wait in the
 * rings; a producer that finds its ring full, a flush and a stop restart
 * the drain themselves (whoever swaps the flag to 0 starts it, once). */
static int it_drain_restart_deferred;

static void it_drain_defer_restart(void) {
    __atomic_store_n(&it_drain_restart_deferred, 1, __ATOMIC_RELEASE);
}

/* Without the GIL or with it (pthread_create needs neither). */
static void it_drain_restart_if_deferred(void) {
    if (IT_UNLIKELY(__atomic_load_n(&it_drain_restart_deferred, __ATOMIC_ACQUIRE)) &&
        __atomic_exchange_n(&it_drain_restart_deferred, 0, __ATOMIC_ACQ_REL))
        it_drain_start();
}

/* Without the GIL: ask for a flush (everything written before this call is
 * delivered and the native sinks' buffers are written out once it is
 * answered).  Returns the request to wait for, or 0 when no drain runs and
 * the calling thread did the pass itself. */
static uint64_t it_drain_flush_ask(void) {
    it_drain_restart_if_deferred();
    if (it_drain_abandoned())
        return 0;  /* the stuck drain holds the sinks: nothing can be delivered */
    pthread_mutex_lock(&it_d.mu);
    if (!it_d.running) {
        pthread_mutex_unlock(&it_d.mu);
        it_drain_pass(IT_PASS_FLUSH, NULL);
        return 0;
    }
    uint64_t req = ++it_d.flush_req;
    pthread_cond_signal(&it_d.wake);
    pthread_mutex_unlock(&it_d.mu);
    return req;
}

/* Without the GIL: wait up to `ms` for flush request `req`.  Returns 1 when
 * it was answered (or the drain stopped).  The caller waits in slices so
 * that, between them, it can take the GIL and let a signal handler run
 * (Ctrl-C frees a flush held up by a Python sink that does not return). */
static int it_drain_flush_wait(uint64_t req, long ms) {
    struct timespec until = it_clock_deadline((int64_t)ms * 1000000);
    pthread_mutex_lock(&it_d.mu);
    int rc = 0;
    while (it_d.flush_done < req && it_d.running && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&it_d.done, &it_d.mu, &until);
    int answered = it_d.flush_done >= req || !it_d.running;
    pthread_mutex_unlock(&it_d.mu);
    return answered;
}

/* Without the GIL: stop the drain after a last pass.  A Python sink call
 * the drain has been in for more than `sink_wait_ms` is given up on (see
 * it_drain_python.h): returns 1 then, the drain left running unjoined. */
static int it_drain_stop(long sink_wait_ms) {
    it_drain_restart_if_deferred();
    pthread_mutex_lock(&it_d.mu);
    if (!it_d.running) {
        pthread_mutex_unlock(&it_d.mu);
        return 0;
    }
    __atomic_store_n(&it_d.accepting, 0, __ATOMIC_RELEASE);
    it_d.stop = 1;
    pthread_cond_signal(&it_d.wake);
    int gave_up = 0;
    while (!it_d.finished && !gave_up) {
        struct timespec until = it_clock_deadline(100000000);  /* look at the drain every 100 ms */
        pthread_cond_timedwait(&it_d.done, &it_d.mu, &until);
        if (!it_d.finished) {
            pthread_mutex_unlock(&it_d.mu);  /* lock order: it_dpy.mu is taken alone */
            gave_up = it_drain_give_up_if_stuck(sink_wait_ms);
            pthread_mutex_lock(&it_d.mu);
        }
    }
    pthread_mutex_unlock(&it_d.mu);
    if (!gave_up)
        pthread_join(it_d.thread, NULL);
    __atomic_store_n(&it_d.running, 0, __ATOMIC_RELEASE);
    return gave_up;
}

/* After exit gave up on the drain: records no sink will get (it_drain_python.h). */
static uint64_t it_drain_undelivered(void) {
    return it_drain_rings_undelivered(it_d.rings) + it_drain_rings_undelivered(it_d.adopt);
}

#endif
