# Greenlet awareness (included into _core.pyx): a greenlet.settrace callback
# that swaps the thread's current per-greenlet state on every switch, and
# puts a switch record (it_events.h) in the thread's ring while tracing.
#
# greenlet's tracer is per thread, so each traced thread installs its own
# the first time it runs traced code after the greenlet module was loaded.
# The callback is a C-implemented function (no Python frame, so no trace
# events of its own); it never raises, and it chains to the tracer that was
# installed before it.

from libc.stdint cimport uint32_t, uint64_t
from cpython.object cimport PyObject
from cpython.ref cimport Py_DECREF
from infi_tracing.native.includes.python cimport (
    PyObject_GenericGetDict, PyDict_GetItemWithError, PyErr_Clear)
from infi_tracing.native.includes.it_state cimport it_g, it_tstate, it_tls
from infi_tracing.native.includes.it_hook cimport it_busy, it_emit_switch

cdef str _GSTATE_ATTR = "_infi_tracing_gstate"
cdef str _EV_SWITCH = "switch"
cdef str _EV_THROW = "throw"
cdef object _greenlet_module = None
cdef uint64_t _greenlet_switch_errors = 0


cdef GState _gstate_of(object g):
    """The state of greenlet `g`, created on first sight."""
    cdef GState gs
    gs = getattr(g, _GSTATE_ATTR, None)
    if gs is None:
        gs = GState()
        setattr(g, _GSTATE_ATTR, gs)
    return gs


cdef inline GState _gstate_fast(object g):
    """`g`'s state straight from its instance dict, or None (then the caller
    takes _gstate_of).  getattr would first search the type's MRO for a
    descriptor (~220 instructions a switch, callgrind); the attribute is ours
    and only ever set on the instance, so the dict is where it lives."""
    cdef PyObject *d = PyObject_GenericGetDict(g, NULL)  # new reference
    cdef PyObject *v
    if d == NULL:
        PyErr_Clear()  # no __dict__: _gstate_of fails and reports it
        return None
    v = PyDict_GetItemWithError(<object> d, _GSTATE_ATTR)  # borrowed
    Py_DECREF(<object> d)  # the greenlet still holds its dict, so v stays alive
    if v == NULL:
        PyErr_Clear()
        return None
    if type(<object> v) is GState:
        return <GState> v
    return None


def _greenlet_tracer(str event, tuple args):
    """greenlet.settrace callback: make the target's state current.

    On every switch, so kept to C-level operations: it_tls for the thread's
    state, the target's instance dict for its GState."""
    global _greenlet_switch_errors, it_busy
    cdef it_tstate *st = it_tls
    cdef ThreadState ts
    cdef GState incoming
    cdef uint32_t from_id
    if st == NULL:
        return None
    ts = <ThreadState> st.owner
    if event == _EV_SWITCH or event == _EV_THROW:  # identity is checked first
        try:
            if len(args) != 2:
                raise TypeError("greenlet tracer: (origin, target) expected")
            if ts.unbound is not None:
                _bind_unbound(ts, args[0])
            incoming = _gstate_fast(args[1])
            if incoming is None:
                incoming = _gstate_of(args[1])
            from_id = 0
            if ts.current is not None:
                ts.current.saved_busy = it_busy
                from_id = ts.current.st.id
            ts.set_current(incoming)
            it_busy = incoming.saved_busy
            it_emit_switch(st, from_id, incoming.st.id)  # C: no record when not tracing
        except BaseException:
            # A greenlet we cannot tag (no __dict__): its calls are recorded
            # under the previous state; counted in tracing_stats().
            _greenlet_switch_errors += 1
    if ts.prev_tracer is not None:
        return ts.prev_tracer(event, args)
    return None


cdef int _bind_unbound(ThreadState ts, object origin) except -1:
    """The first switch seen in this thread leaves `origin`: it owned the
    state the thread recorded with until now."""
    if getattr(origin, _GSTATE_ATTR, None) is None:
        setattr(origin, _GSTATE_ATTR, ts.unbound)
    ts.unbound = None
    return 0


cdef int _greenlet_hook_thread(ThreadState ts) except -1:
    """Install the switch callback in this thread once greenlet is loaded."""
    global _greenlet_module, _greenlet_switch_errors
    if ts.greenlet_hooked:
        return 0
    if _greenlet_module is None:
        module = _sys.modules.get("greenlet")
        # Half imported (we may run in the middle of its import): try again
        # at a later epoch, once settrace exists.
        if module is None or not callable(getattr(module, "settrace", None)):
            return 0
        _greenlet_module = module
    try:
        ts.prev_tracer = _greenlet_module.settrace(_greenlet_tracer)
    except Exception:
        _greenlet_switch_errors += 1  # never lose the event that brought us here
        return 0
    if ts.prev_tracer is _greenlet_tracer:
        ts.prev_tracer = None
    ts.greenlet_hooked = True
    return 0


cdef int _greenlet_check_loaded() except -1:
    """Called on code registration: when greenlet has just been imported,
    make every thread re-check (and hook) at its next event."""
    if _greenlet_module is None and "greenlet" in _sys.modules:
        it_g.epoch += 1  # until a thread manages to hook it (see above)
    return 0


cdef int _greenlet_preload() except -1:
    """Import greenlet now if it is installed, so every thread hooks its
    switches on its first traced event, before the program's first switch
    (a greenlet imported later is found at the next new code object)."""
    global _greenlet_module
    if _greenlet_module is not None or "greenlet" in _sys.modules:
        return 0
    import importlib.util
    if importlib.util.find_spec("greenlet") is not None:
        try:
            import greenlet  # noqa: F401
        except ImportError:
            pass
    return 0
