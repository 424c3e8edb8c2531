# Declarations of it_sink_pftrace.h: the live Perfetto protobuf sink's encoder state.
from infi_tracing.native.includes.it_pftrace cimport it_pft

cdef extern from "it_sink_pftrace.h" nogil:
    it_pft *it_pft_new()
    void it_pft_free(it_pft *e)
