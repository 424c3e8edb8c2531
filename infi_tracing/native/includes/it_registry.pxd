# Declarations of it_registry.h: the native code registry the drain formats from.
from libc.stdint cimport uint32_t, uint64_t
from cpython.object cimport PyObject

cdef extern from "it_registry.h" nogil:
    ctypedef struct it_code_entry:
        char *module
        char *qualname
        char *filename
        int firstlineno
        int nargs
        char **argnames
        uint32_t start_lasti
        uint64_t calls
        uint64_t total_ns, self_ns
        PyObject *py_argnames
        uint64_t redact_args
        int redact_return
    it_code_entry *it_registry_get(uint32_t id)
    uint32_t it_registry_add(it_code_entry *e)
    uint32_t it_registry_size()
    void it_registry_reset_counts()
