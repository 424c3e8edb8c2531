# Python.h declarations that Cython's cpython/*.pxd lack, or that the core
# needs with raw results: declared once here for every included .pyx.
from cpython.object cimport PyObject

cdef extern from "Python.h":
    ctypedef struct PyCodeObject:
        pass
    ctypedef struct PyFrameObject:
        pass
    int PyTrace_CALL

    # Borrowed; NULL when no Python frame runs (a greenlet's start, the drain).
    PyFrameObject *PyEval_GetFrame()
    int Py_AddPendingCall(int (*func)(void *) noexcept with gil, void *arg)
    void PyErr_SetObject(object type, object value)
    void PyErr_Clear()
    unsigned long PyThread_get_thread_ident() nogil

    # Raw results, no exception check: for the greenlet switch callback a
    # miss or an error only means "take the slow path", which reports errors
    # itself (the caller clears the error).  A new and a borrowed reference.
    PyObject *PyObject_GenericGetDict(object o, void *context)
    PyObject *PyDict_GetItemWithError(object d, object key)
