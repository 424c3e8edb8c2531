# Declarations of it_evalframe.h: the PEP 523 eval-frame backend (3.10, 3.11).
from libc.stdint cimport uint64_t
from cpython.object cimport PyObject

cdef extern from "it_evalframe.h":
    int IT_HAVE_EVALFRAME
    int it_evalframe_install()
    void it_evalframe_uninstall()
    int it_evalframe_taken()
    void it_evalframe_retire()
    uint64_t it_stack_untraced_calls
    int (*it_stack_fallback)() noexcept
    # The frame the filter is asked about before it exists (3.11).
    PyObject *it_pending_globals
    PyObject **it_pending_fast
