# Declarations of it_drain_fork.h: the drain across fork().
from infi_tracing.native.includes.it_ring cimport it_ring

cdef extern from "it_drain_fork.h" nogil:
    int it_drain_pause()
    void it_drain_after_fork_child(it_ring *mine)
