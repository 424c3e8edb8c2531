# The flight recorder's native side (included into _core.pyx): its sink
# handle, snapshots and counters.  The recorder itself is it_flight.h; a
# snapshot is it_flight_snap.h (copied under the drain's lock, written
# without it and without the GIL).

from infi_tracing.native.includes.it_flight cimport (
    it_flight, it_flight_new, it_flight_snap, it_flight_copy, it_flight_copy_bound, it_flight_write,
    it_flight_snap_free)
from infi_tracing.native.includes.it_sinks cimport IT_SINK_FLIGHT
from infi_tracing.native.includes.it_clock cimport it_now_ns


def flight_handle(uint64_t window_ns, uint64_t size, str name):
    """A flight-recorder sink keeping `window_ns` of the past in at most
    `size` bytes (arguments validated by infi_tracing._flight)."""
    cdef SinkHandle h = SinkHandle()
    h.s.kind = IT_SINK_FLIGHT
    h.s.fd = -1
    h.s.flight = it_flight_new(window_ns, size)
    if h.s.flight == NULL:
        raise MemoryError()
    h.target = None
    h.name = name
    return h


def flight_dump(SinkHandle h, int fd):
    """Write the recorder's window to `fd` as a binary trace: every record
    made so far is delivered first (a flush), the window is copied with the
    drain's lock held (the drain pauses for that copy only; traced threads
    never wait for it), then written with no lock and no GIL.  Returns
    {"records", "threads", "bytes_copied", "hold_ns", "write_ns"}; OSError
    when the file cannot take it."""
    cdef it_flight_snap snap
    cdef int rc = 0, locked
    cdef uint64_t t0, t1, t2
    cdef size_t cap = 0
    cdef char *pre = NULL
    cdef long pid = _os.getpid()
    if h.s.kind != IT_SINK_FLIGHT:
        raise ValueError("not a flight recorder: %r" % (h.name,))
    flush("dump_flight_recorder")
    with nogil:
        locked = it_drain_lock_sinks()
        if locked:
            cap = it_flight_copy_bound(h.s.flight)
            it_drain_unlock_sinks()
            pre = <char *> malloc(cap)
            if pre != NULL:
                memset(pre, 0, cap)  # its pages faulted in now, not under the lock
            locked = it_drain_lock_sinks()
        t0 = it_now_ns()
        if locked:
            rc = it_flight_copy(h.s.flight, pid, &snap, pre, cap)
            t1 = it_now_ns()
            it_drain_unlock_sinks()
        if locked and rc == 0:
            rc = it_flight_write(&snap, fd)
            t2 = it_now_ns()
    if not locked:
        free(pre)
        raise RuntimeError("infi_tracing: the drain was given up on at exit; no snapshot")
    if rc == 0:
        result = {"records": snap.records, "threads": snap.nthreads, "bytes_copied": snap.len,
                  "hold_ns": t1 - t0, "write_ns": t2 - t1}
        it_flight_snap_free(&snap)
        return result
    it_flight_snap_free(&snap)  # (after a failed copy: already empty)
    raise OSError(rc, _os.strerror(rc))


def flight_stats(SinkHandle h):
    """The recorder's counters: records kept (ever), taken back with their
    blocks (the window wrapped), dropped (no block), blocks and snapshots."""
    cdef it_flight *f = h.s.flight
    return {"window_ns": f.window_ns, "blocks": f.nblocks, "max_blocks": f.max_blocks,
            "threads": f.nthreads, "kept": f.kept, "evicted": f.evicted,
            "dropped": f.dropped, "snapshots": f.snapshots}
