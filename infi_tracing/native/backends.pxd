# Declarations of it_backends.h: installing the hook backends.
from libc.stdint cimport uint64_t
from cpython.object cimport PyObject
from infi_tracing.native.common cimport PyFrameObject

cdef extern from "it_evalframe.h":
    int IT_HAVE_EVALFRAME
    int it_evalframe_install()
    void it_evalframe_uninstall()
    int it_evalframe_taken()
    void it_evalframe_retire()
    uint64_t it_stack_untraced_calls
    int (*it_stack_fallback)() noexcept
    PyObject *it_pending_globals
    PyObject **it_pending_fast

cdef extern from "it_hook.h":
    # Thread-local: nonzero while the hook runs Python code of its own.
    int it_busy

cdef extern from "it_backends.h":
    int it_yield_opcode, it_yield_from_opcode, it_return_value_opcode, it_return_const_opcode, it_resume_opcode
    object it_mon_callback(const char *name)
    void it_profile_install_all(int on)
    void it_profile_install_current()
    int it_profile_callback(PyObject *obj, PyFrameObject *frame, int what, PyObject *arg)
    int PyTrace_CALL
    void it_log_record(const char *level, const char *logger, const char *message)
