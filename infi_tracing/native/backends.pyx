# Installing and removing the hook backends (included into _core.pyx).
#
# "monitoring": sys.monitoring (3.12+) with C callbacks, global for every
#   thread, existing and future.
# "evalframe": a PEP 523 eval-frame function (3.10, 3.11), interpreter-wide.
# "profile": PyEval_SetProfile with a C callback on every existing thread;
#   threads started later through `threading` install it on their first
#   event via threading.setprofile.

from libc.stdint cimport uint64_t
from infi_tracing.native.includes.python cimport PyFrameObject, PyTrace_CALL
from infi_tracing.native.includes.it_common cimport (
    it_gettid, it_saved_exc, it_exc_save, it_exc_restore)
from infi_tracing.native.includes.it_state cimport it_g
from infi_tracing.native.includes.it_hook cimport it_busy
from infi_tracing.native.includes.it_evalframe cimport (
    IT_HAVE_EVALFRAME, it_evalframe_install, it_evalframe_uninstall, it_evalframe_taken,
    it_evalframe_retire)
from infi_tracing.native.includes.it_backends cimport (
    it_mon_callback, it_profile_install_all, it_profile_install_current, it_profile_callback,
    it_yield_opcode, it_yield_from_opcode, it_return_value_opcode, it_return_const_opcode,
    it_resume_opcode)

cdef int _tool_id = -1
cdef str _backend = ""
cdef uint64_t _stack_low_fallbacks = 0   # sessions moved from evalframe to profile

_MONITORING_EVENTS = ("PY_START", "PY_RESUME", "PY_THROW", "PY_RETURN", "PY_YIELD", "PY_UNWIND")


def available_backends():
    """Backends this interpreter supports, fastest first."""
    if hasattr(_sys, "monitoring"):
        return ("monitoring", "profile")
    if IT_HAVE_EVALFRAME:
        return ("evalframe", "profile")
    return ("profile",)


def evalframe_taken():
    """Another tool (a debugger, say) has its own PEP 523 eval-frame function."""
    return bool(it_evalframe_taken())


def _profile_bootstrap(frame, event, arg):
    """threading.setprofile hook: swap in the C callback for this thread."""
    it_profile_install_current()
    if event == "call":
        it_profile_callback(NULL, <PyFrameObject *> <void *> frame, PyTrace_CALL, NULL)


cdef int _install(str backend) except -1:
    """Install `backend`.  At most one backend, and one sys.monitoring tool
    id, is ours at any time: an installed one is removed first, and an
    install that fails half-way is undone before the error propagates.
    The caller (_api.py) serialises start/stop; this keeps the invariant
    even so."""
    global _backend
    if _backend:
        _uninstall()
    if backend == "monitoring":
        _claim_tool_id()
        _backend = backend  # from here on _uninstall() undoes what is done
        try:
            _monitoring_on()
        except BaseException:
            _uninstall()
            raise
    elif backend == "evalframe":
        if not it_evalframe_install():
            raise ValueError("backend='evalframe' is not available: another tool has installed "
                             "its own eval-frame function")
    else:
        it_profile_install_all(1)
        _threading.setprofile(_profile_bootstrap)
    _backend = backend
    return 0


cdef int _claim_tool_id() except -1:
    """Register a free sys.monitoring tool id as ours (the profiler's if free)."""
    global _tool_id
    mon = _sys.monitoring
    for tool in (mon.PROFILER_ID, 3, 4, 1, 0):
        if mon.get_tool(tool) is None:
            break
    else:
        raise RuntimeError("infi_tracing: every sys.monitoring tool id is in use")
    mon.use_tool_id(tool, "infi_tracing")
    _tool_id = tool
    return 0


cdef int _monitoring_on() except -1:
    """Our callbacks and events on the claimed tool id."""
    mon = _sys.monitoring
    it_g.disable = <PyObject *> mon.DISABLE
    mask = 0
    for name in _MONITORING_EVENTS:
        event = getattr(mon.events, name)
        mon.register_callback(_tool_id, event, it_mon_callback(name.lower().encode()))
        mask |= event
    mon.set_events(_tool_id, mask)
    mon.restart_events()  # earlier DISABLE answers belong to an older filter
    return 0


cdef int _uninstall() except -1:
    """Remove the installed backend; the tool id is freed even if clearing
    its events or callbacks fails."""
    global _tool_id, _backend
    if _backend == "monitoring":
        mon = _sys.monitoring
        try:
            mon.set_events(_tool_id, 0)
            for name in _MONITORING_EVENTS:
                mon.register_callback(_tool_id, getattr(mon.events, name), None)
        finally:
            mon.free_tool_id(_tool_id)
            _tool_id = -1
            _backend = ""
    elif _backend == "evalframe":
        it_evalframe_uninstall()
    elif _backend == "profile":
        _threading.setprofile(None)
        it_profile_install_all(0)
    _backend = ""
    return 0


cdef int _stack_fallback() noexcept:
    """it_stack_fallback (it_evalframe.h): the eval-frame hook found its
    thread's C stack low on 3.11, where every frame evaluated under the
    hook nests C frames.  Hand tracing to the profile callback, which does
    not, for the rest of the session.  GIL held, called from the hook; no
    Python code of ours runs, so no other thread sees the change half done."""
    global _backend, _backend_note, _stack_low_fallbacks, _internal_errors, it_busy
    cdef it_saved_exc saved
    if _backend != "evalframe":
        return 0
    it_exc_save(&saved)
    it_busy += 1
    try:
        # what threading.setprofile() does, without running Python code
        _threading._profile_hook = _profile_bootstrap
        it_evalframe_retire()
        _backend = "profile"
        _stack_low_fallbacks += 1
        _backend_note = ("evalframe until the C stack of thread %d ran low (deep recursion), "
                         "profile since" % it_gettid())
    except BaseException:
        _internal_errors += 1
    it_busy -= 1
    it_exc_restore(&saved)
    return 0


cdef int _init_opcodes() except -1:
    global _resume_opcode, it_yield_opcode, it_yield_from_opcode
    global it_return_value_opcode, it_return_const_opcode, it_resume_opcode
    it_yield_opcode = _dis.opmap["YIELD_VALUE"]
    it_return_value_opcode = _dis.opmap["RETURN_VALUE"]
    it_return_const_opcode = _dis.opmap.get("RETURN_CONST", -1)
    it_yield_from_opcode = _dis.opmap.get("YIELD_FROM", -1)
    if _sys.version_info >= (3, 11):
        _resume_opcode = _dis.opmap["RESUME"]
        it_resume_opcode = _resume_opcode
    return 0
