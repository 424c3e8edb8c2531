# Declarations of it_backends.h: the sys.monitoring and profile adapters.
from cpython.object cimport PyObject
from infi_tracing.native.includes.python cimport PyFrameObject

cdef extern from "it_backends.h":
    # Opcodes read from `dis` at import (-1: not in this version).
    int it_yield_opcode, it_yield_from_opcode, it_return_value_opcode, it_return_const_opcode
    int it_resume_opcode
    object it_mon_callback(const char *name)
    void it_profile_install_all(int on)
    void it_profile_install_current()
    int it_profile_callback(PyObject *obj, PyFrameObject *frame, int what, PyObject *arg)
