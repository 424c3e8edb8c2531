# Interpreter exit and the sinks (included into _core.pyx): exit waits for
# one sink at most IT_EXIT_SINK_WAIT_MS (it_exit.h, the one home of the
# rule), then gives it up: a line on stderr names the sink and the records
# it did not deliver, counted lost in its stats, and its stats carry
# "given_up_at_exit" (the reason; run's summary shows it).
#
#   a Python sink's write() the drain is stuck in   _count_given_up_sink
#                                                   (it_drain_python.h)
#   a native sink's descriptor that takes no byte   the drain gives it up
#                                                   (it_sink_wait.h), said by
#                                                   _report_native_give_ups
#   a Python sink's flush() or close()              _call_bounded (it_exit_call.h)

from infi_tracing.native.includes.it_exit cimport IT_EXIT_SINK_WAIT_MS, it_exit_begin
from infi_tracing.native.includes.it_exit_call cimport (
    it_exit_call, it_exit_call_start, it_exit_call_wait)

cdef bint _exiting = False  # shutdown() began: Python sink calls are bounded
cdef object _given_up_sink = None  # the name of the sink whose write() the drain was stuck in
cdef uint64_t _undelivered_at_exit = 0  # records then left in the rings


cdef void _begin_exit() noexcept:
    """Exit starts: from now on no wait for a sink lasts longer than the bound."""
    global _exiting
    _exiting = True
    it_exit_begin()


cdef void _forget_exit() noexcept:
    """Tracing starts again after exit's stop: sinks are waited for as before."""
    global _exiting
    _exiting = False


cdef void _say(str text) noexcept:
    """One line on stderr, at once: the program may have no summary."""
    try:
        _sys.stderr.write("infi_tracing: %s\n" % text)
        _sys.stderr.flush()
    except Exception:  # stderr closed: the counters still say it
        pass


cdef int _bound_s():
    return IT_EXIT_SINK_WAIT_MS // 1000


cdef object _given_up_reason(SinkHandle h):
    """Why exit gave up on the sink of `h`, or None (it did not)."""
    if h.exit_reason is None and h.s.given_up_at_exit:
        return "its descriptor took no byte for %d s" % _bound_s()
    return h.exit_reason


cdef void _count_given_up_sink(long waited_ms, uint64_t undelivered) noexcept:
    """Exit gave up on the drain stuck in a Python sink's write() (GIL held,
    the drain parked or never to return): what that write() was handed is
    lost, and so is its batch for the sinks after it, which never got it;
    `undelivered` records left in the rings reach no sink (lost too)."""
    global _given_up_sink, _undelivered_at_exit
    cdef it_sink *stuck = it_dpy.sink
    cdef int i
    cdef SinkHandle h = <SinkHandle> stuck.pyobj
    _given_up_sink = h.name
    _undelivered_at_exit = undelivered
    h.exit_reason = "its write() did not return"
    h.s.lost += h.inflight if h.inflight else it_dpy.records
    h.inflight = 0
    for i in range(it_dpy.index + 1, it_d.nsinks):
        if it_d.sinks[i].syslog != NULL:
            it_d.sinks[i].syslog.lost += it_dpy.records
        else:
            it_d.sinks[i].lost += it_dpy.records
    _say("gave up on sink %s at exit: its write() had not returned after %d s; the records "
         "it was handed, and %d not delivered yet, are counted lost"
         % (h.name, waited_ms // 1000, undelivered))


cdef object _given_up_sink_name():
    """The name of the sink exit gave up on (see _count_given_up_sink), or None."""
    return _given_up_sink


cdef void _report_native_give_ups() noexcept:
    """Native sinks the drain gave up on at exit (it_sink_wait.h), said once
    each; what they did not write since is their lost count's growth."""
    cdef SinkHandle h
    for handle in _sink_handles:
        h = <SinkHandle> handle
        if h.exit_reason is None and h.s.given_up_at_exit:
            h.exit_reason = _given_up_reason(h)
            _say("gave up on sink %s at exit: %s (its reader stopped reading?); %d records not "
                 "delivered, counted lost"
                 % (h.name, h.exit_reason, h.s.lost - h.s.lost_before_exit_give_up))


cdef bint _call_bounded(object fn, tuple args):
    """fn(*args) on a helper thread (it_exit_call.h), waited for at most the
    exit bound: False when exit gave up on it.  Tracing is stopped by then,
    and the helper thread was never traced: no need to suspend it."""
    cdef it_exit_call *c = it_exit_call_start(<PyObject *> fn, <PyObject *> args)
    cdef int returned
    if c == NULL:  # no thread could be made: called here, unbounded, as before
        fn(*args)
        return True
    with nogil:
        returned = it_exit_call_wait(c, IT_EXIT_SINK_WAIT_MS)
    return returned


cdef void _give_up_call(SinkHandle h, str method) noexcept:
    """Exit gave up on `h`'s `method` (GIL held): the records it held for a
    retry or was handing to write() are lost; said on stderr."""
    cdef Py_ssize_t n = h.inflight + h.pending_records
    h.exit_reason = "its %s did not return" % method
    h.s.lost += n
    h.inflight = 0
    h.pending = []
    h.pending_records = 0
    _say("gave up on sink %s at exit: its %s had not returned after %d s; %d records not "
         "delivered, counted lost" % (h.name, method, _bound_s(), n))


def give_up_python_sinks():
    """At the end: records Python sinks still hold for a retry are lost."""
    for h in _sink_handles:
        (<SinkHandle> h).give_up()


def _flush_handle(SinkHandle h):
    """A Python sink's flush (retries first), on exit's helper thread."""
    h.flush()


cdef void _flush_python_sinks_at_exit():
    """flush_python_sinks() once exit began: each sink's flush bounded."""
    cdef SinkHandle h
    _report_native_give_ups()
    for handle in list(_sink_handles):
        h = <SinkHandle> handle
        if h.target is not None and h.exit_reason is None and \
                not _call_bounded(_flush_handle, (h,)):
            _give_up_call(h, "flush()")


def _close_quietly(sink):
    """sink.close(), on exit's helper thread; its errors must not break exit."""
    try:
        sink.close()
    except Exception:
        pass


def close_at_exit(sink):
    """sink.close() at exit, waited for at most the exit bound; one that
    has not returned by then is given up on (stderr says so)."""
    if _call_bounded(_close_quietly, (sink,)):
        return
    for handle in _sink_handles:
        if (<SinkHandle> handle).target is sink or getattr(sink, "handle", None) is handle:
            _give_up_call(<SinkHandle> handle, "close()")
            return
    _say("gave up on sink %r at exit: its close() had not returned after %d s"
         % (sink, _bound_s()))
