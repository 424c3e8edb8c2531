# The flight recorder's native side (included into _core.pyx): its sink
# handle, snapshots and counters.  The recorder itself is it_flight.h; a
# snapshot is it_flight_snap.h (blocks detached under the drain's lock,
# written without it and without the GIL, given back).

from infi_tracing.native.includes.it_flight cimport it_flight, it_flight_new, it_flight_use_file
from infi_tracing.native.includes.it_flight_snap cimport (
    it_flight_snap, it_flight_detach, it_flight_write, it_flight_reattach)
from infi_tracing.native.includes.it_flight_slow cimport (
    it_flight_slow, it_flight_slow_new, it_flight_slow_add, it_flight_slow_wait,
    it_flight_slow_stop)
from infi_tracing.native.includes.it_flight_fatal cimport it_fatal_install, it_fatal_after_fork
from infi_tracing.native.includes.it_sinks cimport IT_SINK_FLIGHT
from infi_tracing.native.includes.it_clock cimport it_now_ns, it_thread_cpu_ns
from libc.string cimport memset

_flight_dump_lock = _threading.Lock()


def flight_handle(uint64_t window_ns, uint64_t size, str name, list slow_rules=None,
                  bint in_file=False):
    """A flight-recorder sink keeping `window_ns` of the past in at most
    `size` bytes; `slow_rules`: [(glob on "module.qualname", min ns)] for
    flight_wait_slow() (arguments validated by infi_tracing._flight);
    `in_file`: its blocks in the crash-survival file (flight_file_open())."""
    cdef SinkHandle h = SinkHandle()
    h.s.kind = IT_SINK_FLIGHT
    h.s.fd = -1
    h.s.flight = it_flight_new(window_ns, size)
    if h.s.flight == NULL:
        raise MemoryError()
    if in_file:
        it_flight_use_file(h.s.flight)
    if slow_rules:
        h.s.flight.slow = it_flight_slow_new()
        if h.s.flight.slow == NULL:
            raise MemoryError()
        for glob, min_ns in slow_rules:
            if it_flight_slow_add(h.s.flight.slow, glob.encode("utf-8"), min_ns) != 0:
                raise MemoryError()
    h.target = None
    h.name = name
    return h


cdef struct _snap_result:
    int locked                  # 0: the drain was given up on at exit
    int rc                      # 0 or an errno value
    uint64_t records, bytes
    size_t threads, blocks
    uint64_t hold_ns, write_ns, write_cpu_ns, lock_at


cdef void _flight_snapshot(it_flight *f, long pid, int fd, _snap_result *r) noexcept nogil:
    """Detach (drain's lock held), write (no lock), give back (lock held)."""
    cdef it_flight_snap snap
    cdef uint64_t t0, t1, t2, t3, c1
    r.rc = 0
    r.locked = it_drain_lock_sinks()
    t0 = r.lock_at = it_now_ns()
    if not r.locked:
        return
    r.rc = it_flight_detach(f, pid, &snap)
    t1 = it_now_ns()
    it_drain_unlock_sinks()
    r.hold_ns = t1 - t0
    if r.rc != 0:
        return
    c1 = it_thread_cpu_ns()
    r.rc = it_flight_write(&snap, fd)
    r.write_cpu_ns = it_thread_cpu_ns() - c1
    r.write_ns = it_now_ns() - t1
    r.records, r.bytes, r.threads, r.blocks = snap.records, snap.bytes, snap.nthreads, snap.nblocks
    r.locked = it_drain_lock_sinks()  # (reattach clears snap)
    if r.locked:
        t2 = it_now_ns()
        it_flight_reattach(f, &snap)
        t3 = it_now_ns()
        it_drain_unlock_sinks()
        r.hold_ns = max(r.hold_ns, t3 - t2)


def flight_dump(SinkHandle h, int fd):
    """Write the recorder's window to `fd` as a binary trace: every record
    made so far is delivered first (a flush); the recorder's blocks are
    detached with the drain's lock held (list heads only: the drain pauses
    for microseconds, traced threads never wait), written with no lock and
    no GIL, then given back.  Returns {"records", "threads", "blocks",
    "bytes", "hold_ns", "write_ns", "write_cpu_ns" (the writing thread's
    CPU time), "flush_ns" (the flush, and the wait for the drain's lock)};
    OSError when the file cannot take it."""
    cdef _snap_result r
    cdef uint64_t f0, req
    cdef int flushed
    cdef long pid = _os.getpid()
    if h.s.kind != IT_SINK_FLIGHT:
        raise ValueError("not a flight recorder: %r" % (h.name,))
    _refuse_in_sink("dump_flight_recorder")
    memset(&r, 0, sizeof(r))
    with _flight_dump_lock:  # one snapshot at a time: each gives back what it took
        f0 = it_now_ns()
        # The flush's first slice and the snapshot in one stretch without the
        # GIL: taking it back costs up to a switch interval (5 ms) each time
        # while a traced thread runs, and a busy machine adds more.
        with nogil:
            req = it_drain_flush_ask()
            flushed = req == 0 or it_drain_flush_wait(req, 100)
            if flushed:
                _flight_snapshot(h.s.flight, pid, fd, &r)
        if not flushed:  # a sink holds the drain up: the slices of flush()
            _flush_wait(req)
            with nogil:
                _flight_snapshot(h.s.flight, pid, fd, &r)
    flush_python_sinks()  # as flush() does
    if not r.locked:
        raise RuntimeError("infi_tracing: the drain was given up on at exit; no snapshot")
    if r.rc != 0:
        raise OSError(r.rc, _os.strerror(r.rc))
    return {"records": r.records, "threads": r.threads, "blocks": r.blocks,
            "bytes": r.bytes, "hold_ns": r.hold_ns, "write_ns": r.write_ns,
            "write_cpu_ns": r.write_cpu_ns, "flush_ns": r.lock_at - f0}


def flight_wait_slow(SinkHandle h, uint64_t seen, long timeout_ms):
    """Wait (GIL released) up to `timeout_ms` for a call matching a slow rule,
    noted by the drain after the `seen`-th.  Returns (seen, "module.qualname",
    duration ns), None on timeout, or False once flight_stop_waiter() was
    called (or the recorder has no rules)."""
    cdef it_flight_slow *slow = h.s.flight.slow if h.s.kind == IT_SINK_FLIGHT else NULL
    cdef uint32_t code_id = 0
    cdef uint64_t dur_ns = 0
    cdef int got
    if slow == NULL:
        return False
    with nogil:
        got = it_flight_slow_wait(slow, &seen, timeout_ms, &code_id, &dur_ns)
    if got < 0:
        return False
    if got == 0:
        return None
    code = _code_of(code_id)
    return seen, "%s.%s" % (code[0], code[1]), dur_ns


def flight_stop_waiter(SinkHandle h):
    """flight_wait_slow() returns False from now on (the recorder is replaced)."""
    if h.s.kind == IT_SINK_FLIGHT and h.s.flight.slow != NULL:
        with nogil:
            it_flight_slow_stop(h.s.flight.slow)


def flight_on_fatal_signals(str template):
    """Snapshots on SIGSEGV, SIGBUS, SIGABRT and SIGFPE go to `template`
    ({pid}, {time}; {seq} becomes "crash-sigN") from now on: the handlers
    (it_flight_fatal.h) are installed on the first call and chain to those
    found then (faulthandler's included)."""
    cdef int rc = it_fatal_install(_os.fsencode(template))
    if rc:
        raise OSError(rc, "infi_tracing: cannot handle fatal signals: %s" % _os.strerror(rc))


def flight_stats(SinkHandle h):
    """The recorder's counters: records kept (ever), taken back with their
    blocks (the window wrapped), dropped (no block), blocks and snapshots."""
    cdef it_flight f
    cdef int locked
    with nogil:  # the drain writes them: read under its lock
        locked = it_drain_lock_sinks()
        f = h.s.flight[0]
        if locked:
            it_drain_unlock_sinks()
    return {"window_ns": f.window_ns, "blocks": f.nblocks, "max_blocks": f.max_blocks,
            "threads": f.nthreads, "kept": f.kept, "evicted": f.evicted,
            "dropped": f.dropped, "snapshots": f.snapshots}


def _flight_after_fork_in_child():
    """A snapshot being written at fork time is the parent's: the child's lock is free."""
    global _flight_dump_lock
    _flight_dump_lock = _threading.Lock()
    it_fatal_after_fork()


_os.register_at_fork(after_in_child=_flight_after_fork_in_child)
