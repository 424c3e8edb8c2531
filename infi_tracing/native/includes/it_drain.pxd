# Declarations of it_drain.h: the drain pthread and the sink list it reads.
from libc.stdint cimport uint64_t, int64_t
from infi_tracing.native.includes.it_ring cimport it_ring, it_record
from infi_tracing.native.includes.it_sinks cimport it_sink

cdef extern from "it_drain.h":
    # Called by the drain thread with the GIL held (see it_drain_enter_python).
    ctypedef void (*it_py_batch_fn)(it_sink *s, const it_ring *r, const it_record **recs,
                                    const int64_t *durs, size_t n, long pid,
                                    int64_t wall_offset) noexcept

cdef extern from "it_drain.h" nogil:
    ctypedef struct it_drain_t "it_drain_t":
        int running
        it_sink **sinks
        int nsinks
        it_py_batch_fn py_batch
        int times_wanted
        uint64_t exited_records, exited_lost, exited_threads
        long pid
    it_drain_t it_d
    void it_drain_adopt(it_ring *r)
    int it_drain_start()
    uint64_t it_drain_flush_ask()
    int it_drain_flush_wait(uint64_t req, long ms)
    # 1: it gave up on a Python sink call stuck longer than sink_wait_ms
    int it_drain_stop(long sink_wait_ms)
    uint64_t it_drain_undelivered()  # only once it_drain_stop() gave up
    void it_drain_defer_restart()
    void it_drain_restart_if_deferred()
    int it_drain_lock_sinks()  # 0: not locked (the drain was given up on at exit)
    void it_drain_update_pairing()  # with the sinks locked
    # with the sinks locked: native sinks leaving the list write what retention holds
    void it_drain_slow_release_leaving(it_sink **next, int n)
    void it_drain_unlock_sinks()
