# Declarations of it_exit_call.h: a Python sink's method called at exit, bounded.
from cpython.object cimport PyObject

cdef extern from "it_exit_call.h":
    ctypedef struct it_exit_call:
        pass
    it_exit_call *it_exit_call_start(PyObject *fn, PyObject *args)
    int it_exit_call_wait(it_exit_call *c, long ms) nogil
