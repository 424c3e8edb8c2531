# Declarations of it_drain_python.h: exit's bounded wait for a Python sink.
from infi_tracing.native.includes.it_sinks cimport it_sink

cdef extern from "it_drain_python.h" nogil:
    ctypedef struct it_drain_py_t:
        it_sink *sink
        int index
        size_t records
    it_drain_py_t it_dpy
    int it_drain_abandoned()
