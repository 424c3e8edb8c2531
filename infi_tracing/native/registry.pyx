# Filter decisions and the code registry (included into _core.pyx).
#
# Slow path of the hook, once per code object and session, GIL held: call
# the user's filter, validate its answer, copy what the drain needs to
# format records into the native registry, and cache the verdict in the
# code object's extra slot (freed with the code object, so a new code object
# at a reused address never inherits a verdict).

from libc.stdint cimport uint32_t, uint64_t, uintptr_t
from libc.stdlib cimport calloc
from libc.string cimport strdup
from cpython.object cimport PyObject
from cpython.ref cimport Py_INCREF
from infi_tracing.native.includes.python cimport (
    PyCodeObject, PyFrameObject, PyEval_GetFrame, Py_AddPendingCall, PyErr_SetObject,
    PyErr_Clear, PyThread_get_thread_ident)
from infi_tracing.native.includes.it_common cimport (
    IT_NO_TRACE, IT_TRACE_FUNC_NAME, IT_TRACE_FUNC_PRIMITIVES, IT_TRACE_FUNC_REPR, IT_GEN_FLAGS,
    IT_CODE_SET_EXTRA,
    it_saved_exc, it_exc_save, it_exc_restore)
from infi_tracing.native.includes.it_state cimport it_g, it_decision_pack
from infi_tracing.native.includes.it_registry cimport it_code_entry, it_registry_add
from infi_tracing.native.includes.it_tracing_guard cimport it_tracing_lower, it_tracing_raise
from infi_tracing.native.includes.it_evalframe cimport it_pending_globals, it_pending_fast

cdef object _filter = None
cdef int _default_level = IT_TRACE_FUNC_NAME
cdef dict _forced = {}          # id(code) -> (code, level): pinned code objects
cdef dict _identities = {}      # identity tuple -> registry id (deduplication)
cdef str _own_dir = _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__))) + _os.sep
cdef uint64_t _filter_calls = 0
cdef uint64_t _filter_errors = 0
cdef uint64_t _registry_full = 0
cdef int _resume_opcode = -1
cdef uint64_t _internal_errors = 0


class TracingFilterWarning(RuntimeWarning):
    """The trace filter raised or returned something that is not a level."""


cdef char *_cstr(object s) except NULL:
    """A malloc'd UTF-8 copy; lone surrogates become \\udXXX escapes and a NUL
    (which would end the C string) \\x00, as it_render.h writes values."""
    cdef bytes b = str(s).replace("\0", "\\x00").encode("utf-8", "backslashreplace")
    cdef char *p = strdup(b)
    if p == NULL:
        raise MemoryError()
    return p


cdef tuple _arg_names(object code):
    """(names to read from the frame, names to print)."""
    cdef int flags = code.co_flags
    cdef int n = code.co_argcount + code.co_kwonlyargcount
    names = list(code.co_varnames[:n])
    shown = list(names)
    if flags & 0x04:  # CO_VARARGS
        names.append(code.co_varnames[n])
        shown.append("*" + code.co_varnames[n])
        n += 1
    if flags & 0x08:  # CO_VARKEYWORDS
        names.append(code.co_varnames[n])
        shown.append("**" + code.co_varnames[n])
    return tuple(names), tuple(shown)


cdef uint32_t _first_resume_offset(object code):
    """Offset at which a generator frame stands before its first start
    (profile backend); 0 on 3.10, where an unstarted frame has lasti -1."""
    if _resume_opcode < 0 or not (code.co_flags & IT_GEN_FLAGS):
        return 0
    raw = code.co_code
    for i in range(0, len(raw), 2):
        if raw[i] == _resume_opcode:
            return i
    return 0


cdef uint32_t _register(object code, object frame) except? 0:
    """Registry id for the code's identity (module, qualname, file, line, args)."""
    global _registry_full
    cdef it_code_entry e
    cdef int i
    module = "?"
    if frame is not None:
        module = frame.f_globals.get("__name__", "?")
        if not isinstance(module, str):
            module = "?"
    qualname = getattr(code, "co_qualname", code.co_name)
    names, shown = _arg_names(code)
    start = _first_resume_offset(code)
    key = (module, qualname, code.co_filename, code.co_firstlineno, shown, start)
    cached = _identities.get(key)
    if cached is not None:
        return cached
    _greenlet_check_loaded()
    e.module = _cstr(module)
    e.qualname = _cstr(qualname)
    e.filename = _cstr(code.co_filename)
    e.firstlineno = code.co_firstlineno
    e.nargs = len(shown)
    e.argnames = <char **> calloc(max(e.nargs, 1), sizeof(char *))
    if e.argnames == NULL:
        raise MemoryError()
    for i in range(e.nargs):
        e.argnames[i] = _cstr(shown[i])
    e.start_lasti = start
    e.calls = 0
    e.total_ns = 0
    e.self_ns = 0
    Py_INCREF(names)  # owned by the registry entry for the life of the process
    e.py_argnames = <PyObject *> names
    cdef uint32_t code_id = it_registry_add(&e)
    if code_id == 0:
        _registry_full += 1
        return 0
    _identities[key] = code_id
    return code_id


cdef str _describe(object code):
    return "%s (%s:%d)" % (getattr(code, "co_qualname", code.co_name), code.co_filename,
                           code.co_firstlineno)


cdef int _level_from_filter(object code, object frame) except -1:
    """Ask the user's filter; a bad filter gets one warning per code object.

    KeyboardInterrupt and SystemExit (a signal handler's exception that hit
    while the filter ran) are the program's, not the filter's: they propagate
    to _decide, which hands them back to the program."""
    global _filter_calls, _filter_errors
    _filter_calls += 1
    cdef int lowered = it_tracing_lower()  # see it_tracing_guard.h
    try:
        answer = _filter(frame)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:
        _note_filter_error(code, exc)
        return IT_NO_TRACE
    finally:
        it_tracing_raise(lowered)
    if answer is True:
        return _default_level
    if answer is False:
        return IT_NO_TRACE
    if isinstance(answer, int) and IT_NO_TRACE <= answer <= IT_TRACE_FUNC_REPR:
        return int(answer)
    _filter_errors += 1
    _warn("infi_tracing: the trace filter returned %s for %s, expected a trace level "
          "(NO_TRACE .. TRACE_FUNC_REPR) or a bool; not tracing it"
          % (_safe_repr(answer), _describe(code)))
    return IT_NO_TRACE


cdef str _safe_repr(object value):
    """repr() of what a filter gave us, bounded; its own __repr__ may fail."""
    try:
        text = repr(value)
        if isinstance(text, str):
            return text if len(text) <= 80 else text[:77] + "..."
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException:
        pass
    return "<%s object (repr failed)>" % type(value).__name__


cdef void _warn(str message):
    try:
        _warnings.warn(message, TracingFilterWarning, stacklevel=2)
    except BaseException:
        pass  # warnings turned into errors must not reach the traced program


cdef uint64_t _decide_py(object code, object frame) except? 0:
    cdef int level
    cdef uint32_t code_id = 0
    pinned = _forced.get(id(code))
    if pinned is not None and pinned[0] is code:
        level = pinned[1]
    elif code.co_filename.startswith(_own_dir):
        level = IT_NO_TRACE  # the tracer's own Python code
    elif _filter is None:
        level = _default_level
    else:
        level = _level_from_filter(code, frame)
    if level >= IT_TRACE_FUNC_NAME:
        code_id = _register(code, frame)
        if code_id == 0:
            level = IT_NO_TRACE
        elif level >= IT_TRACE_FUNC_PRIMITIVES:
            _redact_code(code, code_id)
    cdef uint64_t d = it_decision_pack(level, code_id)
    if IT_CODE_SET_EXTRA(code, it_g.extra_index, <void *> <uintptr_t> d) < 0:
        raise RuntimeError("cannot cache the decision")
    return d


class FrameStandIn:
    """What the filter gets for a frame the interpreter has not made yet
    (eval-frame backend, Python 3.11): the frame's code, globals, arguments
    (as f_locals), first line, and the caller's frame as f_back."""

    __slots__ = ("f_code", "f_globals", "f_locals", "f_lineno", "f_back", "f_builtins")

    def __init__(self, code, f_globals, f_locals, f_back):
        self.f_code = code
        self.f_globals = f_globals
        self.f_builtins = f_globals.get("__builtins__", {})
        self.f_locals = f_locals
        self.f_lineno = code.co_firstlineno
        self.f_back = f_back


cdef object _stand_in(object code):
    cdef int i
    names, _ = _arg_names(code)
    args = {}
    for i in range(len(names)):
        if it_pending_fast[i] != NULL:
            args[names[i]] = <object> it_pending_fast[i]
    cdef PyObject *caller = <PyObject *> PyEval_GetFrame()  # NULL at a greenlet's start
    return FrameStandIn(code, <object> it_pending_globals, args,
                        <object> caller if caller != NULL else None)


cdef object _deferred_exc = None


cdef int _raise_deferred(void *unused) noexcept with gil:
    """Py_AddPendingCall callback: raise the exception stashed by _decide in
    the main thread, where CPython raises signal handlers' exceptions."""
    global _deferred_exc
    exc = _deferred_exc
    _deferred_exc = None
    if exc is None:
        return 0
    PyErr_SetObject(type(exc), exc)
    return -1


cdef uint64_t _decide(PyCodeObject *co, PyFrameObject *frame) noexcept:
    """it_decide: never leaves an exception; 0 means 'do not record'."""
    global _deferred_exc
    cdef it_saved_exc saved
    cdef uint64_t d = 0
    it_exc_save(&saved)
    try:
        if frame != NULL:
            f = <object> frame
        elif it_pending_globals != NULL:
            f = _stand_in(<object> co)
        else:
            caller = <PyObject *> PyEval_GetFrame()
            f = <object> caller if caller != NULL else None
        d = _decide_py(<object> co, f)
    except (KeyboardInterrupt, SystemExit) as exc:
        # Ctrl-C or a signal handler's sys.exit() that arrived while the
        # filter ran.  The hook cannot raise, so the exception is handed back
        # the way CPython delivers signal exceptions: a pending call that
        # raises it in the main thread at its next instruction boundary.
        # The decision is not cached; the filter is asked again next time.
        if _deferred_exc is None and _is_main_thread():
            _deferred_exc = exc
            Py_AddPendingCall(_raise_deferred, NULL)
            d = 0
        else:
            _note_filter_error(<object> co, exc)
            d = _cache_no_trace(<object> co)
    except BaseException:
        # A bug of ours, not the filter's (those are handled above): count it
        # and leave the code untraced rather than fail on every call.
        global _internal_errors
        _internal_errors += 1
        d = _cache_no_trace(<object> co)
    it_exc_restore(&saved)
    return d


cdef uint64_t _cache_no_trace(object code) noexcept:
    """Leave `code` untraced for this generation (a failure to cache only
    means it is decided again next time)."""
    cdef uint64_t d = it_decision_pack(IT_NO_TRACE, 0)
    if IT_CODE_SET_EXTRA(code, it_g.extra_index, <void *> <uintptr_t> d) < 0:
        PyErr_Clear()
    return d


# The thread CPython delivers signals (and pending calls) to; 0 if unknown
# (the module was imported elsewhere), in which case nothing is deferred.
# The forking thread becomes the child's main thread (_after_fork_in_child).
cdef unsigned long _main_thread_ident = (
    PyThread_get_thread_ident()
    if _threading.current_thread() is _threading.main_thread() else 0)


cdef bint _is_main_thread():
    return _main_thread_ident != 0 and PyThread_get_thread_ident() == _main_thread_ident


cdef void _note_filter_error(object code, object exc) noexcept:
    """The filter raised: one counted error and one warning naming the
    function (the caller makes it NO_TRACE).  Also for a KeyboardInterrupt or
    SystemExit outside the main thread (no signal is delivered there), or
    while another one waits to be re-raised."""
    global _filter_errors
    _filter_errors += 1
    try:
        _warn("infi_tracing: the trace filter raised %s for %s; not tracing it"
              % (_safe_repr(exc), _describe(code)))
    except BaseException:
        pass


cdef int _pin_level(object code, int level) except -1:
    """exclude_from_traces_recursive: this code object always gets `level`."""
    _forced[id(code)] = (code, level)
    IT_CODE_SET_EXTRA(code, it_g.extra_index, NULL)
    return 0
