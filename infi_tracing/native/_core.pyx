# cython: language_level=3, boundscheck=False, wraparound=False
# The native core of infi_tracing: one extension module assembled from the
# included .pyx files below, with the hot path in the it_*.h headers.
#
#   state.pyx      per-thread / per-greenlet state objects
#   greenlets.pyx  greenlet.settrace switch callback
#   redact.pyx     redaction settings, per-code-object argument bits
#   registry.pyx   filter decisions, decision cache, code registry
#   sinks.pyx      sink handles, Python-sink batches from the drain
#   exit.pyx       exit's bounded waits for the sinks, and the sinks given up
#   backends.pyx   sys.monitoring / PyEval_SetProfile installation
#   flight.pyx     the flight recorder's sink handle and snapshots
#   (this file)    start/stop/flush/stats and exclusion, used by _api.py
#
# C declarations come from includes/, one .pxd per it_*.h header (and
# python.pxd for Python.h), each name cimported where it is used;
# includes/stdlib.pxi imports the standard library once for every file.

from libc.stdint cimport uint32_t, uint64_t
from cpython.object cimport PyObject
from cpython.exc cimport PyErr_CheckSignals
from infi_tracing.native.includes.python cimport (
    PyEval_GetFrame, Py_AddPendingCall, PyThread_get_thread_ident)
from infi_tracing.native.includes.it_clock cimport it_clock_init
from infi_tracing.native.includes.it_common cimport (
    IT_NO_TRACE, IT_NO_TRACE_NESTED, IT_TRACE_FUNC_NAME, IT_TRACE_FUNC_PRIMITIVES,
    IT_TRACE_FUNC_REPR, IT_REQUEST_EXTRA_INDEX, it_gettid)
from infi_tracing.native.includes.it_events cimport IT_EV_COUNT, it_event_names
from infi_tracing.native.includes.it_ring cimport it_counter
from infi_tracing.native.includes.it_state cimport it_g, it_thread_slow, it_decide
from infi_tracing.native.includes.it_registry cimport (
    it_code_entry, it_registry_get, it_registry_size, it_registry_reset_counts)
from infi_tracing.native.includes.it_hook cimport it_log_record
from infi_tracing.native.includes.it_evalframe cimport it_stack_fallback, it_stack_untraced_calls
from infi_tracing.native.includes.it_drain cimport (
    it_d, it_drain_start, it_drain_stop, it_drain_flush_ask, it_drain_flush_wait,
    it_drain_defer_restart, it_drain_restart_if_deferred, it_drain_undelivered)
from infi_tracing.native.includes.it_drain_fork cimport it_drain_pause, it_drain_after_fork_child
from infi_tracing.native.includes.it_drain_pair cimport it_dp, it_dp_live
from infi_tracing.native.includes.it_exit cimport IT_EXIT_SINK_WAIT_MS

include "includes/stdlib.pxi"
include "state.pyx"
include "greenlets.pyx"
include "redact.pyx"
include "registry.pyx"
include "sinks.pyx"
include "exit.pyx"
include "backends.pyx"
include "flight.pyx"
include "flight_file.pyx"

NO_TRACE = IT_NO_TRACE
NO_TRACE_NESTED = IT_NO_TRACE_NESTED
TRACE_FUNC_NAME = IT_TRACE_FUNC_NAME
TRACE_FUNC_PRIMITIVES = IT_TRACE_FUNC_PRIMITIVES
TRACE_FUNC_REPR = IT_TRACE_FUNC_REPR
# The name of each record kind, by its number (it_common.h's table).
EVENT_NAMES = tuple(it_event_names[i].decode() for i in range(IT_EV_COUNT))


def start(object filter, int level, str backend, bint block, uint64_t buffer_bytes,
          bint generators):
    """Start recording (arguments validated by the caller).  GIL held."""
    global _filter, _default_level, _ring_bytes
    cdef int rc
    _filter = filter
    _default_level = level
    _ring_bytes = buffer_bytes
    it_g.block = block
    it_g.generators = generators
    it_g.gen = (it_g.gen + 1) & 0xFFFFFF or 1  # forget every cached decision
    it_g.session += 1                         # depths restart
    it_g.epoch += 1                           # threads re-check ring size and greenlet hooks
    _forget_exit()                            # tracing again after exit's stop
    _greenlet_preload()
    _greenlet_hook_thread(_thread_state_obj(True))  # this thread: before its first switch
    with nogil:
        rc = it_drain_start()
    if rc != 0:
        raise OSError(rc, "infi_tracing: cannot start the drain thread")
    _install(backend)
    it_g.active = 1


def stop(str caller="unset_tracing"):
    """Stop recording and deliver everything recorded so far.  GIL held."""
    _refuse_in_sink(caller)
    it_g.active = 0
    _uninstall()
    flush(caller)


cdef int _flush_wait(uint64_t req) except -1:
    """Wait for the drain to answer flush request `req` (0: none asked).  The
    wait is cut in slices so that a signal handler (Ctrl-C) can run, and
    raise, while a sink holds the drain up."""
    cdef int done = 0
    while req and not done:
        with nogil:
            done = it_drain_flush_wait(req, 100)
        if not done:
            PyErr_CheckSignals()
    return 0


def flush(str caller="flush_tracing"):
    """Deliver every record written so far to every sink."""
    cdef uint64_t req
    _refuse_in_sink(caller)
    with nogil:
        req = it_drain_flush_ask()
    _flush_wait(req)
    flush_python_sinks()


def shutdown():
    """At exit: stop recording, deliver everything, stop the drain thread;
    what a sink still holds then is lost (nothing will retry it).  No wait
    for one sink lasts longer than IT_EXIT_SINK_WAIT_MS (exit.pyx): a Python
    sink's write(), flush(), a native sink's descriptor taking no byte; the
    sink is given up on then, what it did not deliver counted lost."""
    cdef int gave_up
    _begin_exit()
    if it_g.active:
        _refuse_in_sink("unset_tracing")
        it_g.active = 0
        _uninstall()
        with nogil:
            it_drain_restart_if_deferred()
        if not it_d.running:
            flush()  # no drain thread to stop: this thread delivers what is left
    with nogil:
        gave_up = it_drain_stop(IT_EXIT_SINK_WAIT_MS)
    if gave_up:
        _count_given_up_sink(IT_EXIT_SINK_WAIT_MS, it_drain_undelivered())
    flush_python_sinks()
    give_up_python_sinks()


def backend_in_use():
    return _backend or None


def suspend():
    """Nestable per greenlet: nothing is recorded until resume()."""
    cdef ThreadState ts = _thread_state_obj(True)
    ts.current.st.user_excl += 1


def resume():
    cdef ThreadState ts = _thread_state_obj(True)
    if ts.current.st.user_excl > 0:
        ts.current.st.user_excl -= 1


def pin_nested_exclusion(object code):
    """Calls of `code`, and everything they call, are never recorded."""
    _pin_level(code, IT_NO_TRACE_NESTED)
    if _backend == "monitoring":
        _sys.monitoring.restart_events()


def log_record(str level, str logger, str message):
    """Put a logging record into the current thread's stream (see
    infi_tracing.TraceLogHandler); nothing when not tracing or excluded."""
    cdef bytes l = level.encode("utf-8", "backslashreplace")
    cdef bytes n = logger.encode("utf-8", "backslashreplace")
    cdef bytes m = message.replace("\n", "\\n").encode("utf-8", "backslashreplace")
    it_log_record(l, n, m)


_TOP_KEYS = {"calls": 0, "total": 1, "self": 2}


def top_functions(int top=10, str by="calls"):
    """The `top` functions by `by` ("calls", "total" or "self" time):
    [(module, qualname, calls, total_ns, self_ns)], counted by the drain from
    the records it delivered (no extra sink needed).  Total: wall time from
    call to exit; self: the time the function itself ran (less its callees,
    less the time its greenlet was switched out); both from exits whose call
    was seen (it_drain_pair.h)."""
    cdef uint32_t i, n = it_registry_size()
    cdef it_code_entry *e
    if by not in _TOP_KEYS:
        raise ValueError("by: expected one of %s, got %r" % (", ".join(_TOP_KEYS), by))
    key = _TOP_KEYS[by]
    found = []
    for i in range(1, n + 1):
        e = it_registry_get(i)
        counts = (it_counter(&e.calls), it_counter(&e.total_ns), it_counter(&e.self_ns))
        if counts[key]:
            found.append((counts[key], i, counts))
    found.sort(reverse=True)
    result = []
    for _, i, counts in found[:top]:
        e = it_registry_get(i)
        result.append((e.module.decode("utf-8", "replace"), e.qualname.decode("utf-8", "replace"))
                      + counts)
    return result


def current_greenlet_id():
    """The id this thread's running greenlet has in records."""
    cdef ThreadState ts = _thread_state_obj(True)
    return ts.current.st.id


_backend_note = ""


def set_backend_note(str note):
    """Why the backend in use is not the one asked for (shown in stats)."""
    global _backend_note
    _backend_note = note


def stats():
    """Counters for tracing_stats()."""
    threads = [t.stats() for t in _live_thread_states() if (<ThreadState> t).st.ring != NULL]
    return {
        "active": bool(it_g.active),
        "backend": _backend or None,
        "backend_note": _backend_note,
        "overflow": "block" if it_g.block else "drop",
        "threads": threads,
        "exited_threads": {
            "threads": it_counter(&it_d.exited_threads),
            "records": it_counter(&it_d.exited_records),
            "lost": it_counter(&it_d.exited_lost),
        },
        "sinks": [h.stats() for h in _sink_handles],
        "code_objects": it_registry_size(),
        "filter_calls": _filter_calls,
        "filter_errors": _filter_errors,
        "internal_errors": _internal_errors,
        "greenlet_switch_errors": _greenlet_switch_errors,
        # switch records drained, and the drain's pairing nodes in use (threads
        # plus greenlets with open calls; a finished greenlet leaves none)
        "greenlet_switches": it_counter(&it_dp.switches),
        "open_call_stacks": it_dp_live(),
        "stack_low_fallbacks": _stack_low_fallbacks,
        "stack_low_untraced_calls": it_stack_untraced_calls,
        "drain_running": bool(it_d.running),
        "drain_given_up": _given_up_sink_name(),
        "undelivered_at_exit": _undelivered_at_exit,
        "clock": _clock_name,
        "threads_seen": _threads_seen,
        "greenlets_seen": _next_greenlet_id - _untraced_states,
    }


cdef bint _paused_for_fork = False


def _before_fork():
    """No drain thread across a fork: see it_drain_pause()."""
    global _paused_for_fork
    cdef int paused
    with nogil:
        paused = it_drain_pause()
    _paused_for_fork = paused


def _after_fork_in_parent():
    global _paused_for_fork, _forking_frame, _forking_lasti
    if _paused_for_fork:
        _paused_for_fork = False
        if _sys.version_info >= (3, 13) and _is_main_thread():
            # See it_drain_restart_deferred in it_drain.h.  Other at-fork
            # hooks (Python functions, run after this one) reach the
            # pending call before os.fork() has warned; remember where
            # os.fork() was called so the pending call can tell.
            caller = <PyObject *> PyEval_GetFrame()
            _forking_frame = <object> caller if caller != NULL else None
            _forking_lasti = _forking_frame.f_lasti if _forking_frame is not None else -1
            it_drain_defer_restart()
            if Py_AddPendingCall(_restart_drain, NULL) == 0:
                return
            _forking_frame = None
        with nogil:
            it_drain_start()


cdef object _forking_frame = None   # the frame that called os.fork() (3.13+)
cdef int _forking_lasti = -1


cdef bint _still_in_fork():
    """True while the at-fork hooks of the os.fork() call run: the forking
    frame is below us, still at the instruction that called os.fork()."""
    f = _forking_frame
    if f is None:
        return False
    caller = <PyObject *> PyEval_GetFrame()
    cur = <object> caller if caller != NULL else None
    if cur is f:
        return False          # back in the forking frame: fork() returned
    while cur is not None:
        if cur is f:
            return f.f_lasti == _forking_lasti
        cur = cur.f_back
    return False


cdef int _restart_drain(void *unused) noexcept with gil:
    global _forking_frame
    try:
        if _still_in_fork() and Py_AddPendingCall(_restart_drain, NULL) == 0:
            return 0          # asked again at the next instruction boundary
    except BaseException:
        pass
    _forking_frame = None
    with nogil:
        it_drain_restart_if_deferred()
    return 0


def _after_fork_in_child():
    global _threads_seen, _paused_for_fork, _main_thread_ident, _deferred_exc
    _flight_file_detach_in_child()  # before anything writes to the parent's file
    _main_thread_ident = PyThread_get_thread_ident()
    _deferred_exc = None  # its pending call was the parent's
    cdef ThreadState ts = _thread_state_obj(False)
    it_registry_reset_counts()
    _threads_seen = 1 if ts is not None else 0
    if ts is not None:
        ts.tid = it_gettid()  # the forking thread has a new id in the child
        if ts.st.ring != NULL:
            ts.st.ring.tid = ts.tid
    it_drain_after_fork_child(ts.st.ring if ts is not None else NULL)
    _flight_file_reopen_in_child()  # before the drain starts
    _paused_for_fork = False
    if it_g.active:
        it_drain_start()


# ---- module initialisation ----------------------------------------------
_clock_name = it_clock_init().decode()  # before any ring: records' time base
it_g.extra_index = IT_REQUEST_EXTRA_INDEX(NULL)
if it_g.extra_index < 0:
    raise ImportError("infi_tracing: no code-object extra slot left")
it_thread_slow = _thread_slow
it_decide = _decide
it_stack_fallback = _stack_fallback
it_d.py_batch = _py_batch
_init_opcodes()
_os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent,
                     after_in_child=_after_fork_in_child)
