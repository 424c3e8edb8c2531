# Declarations of it_sink_pftrace.h: the live Perfetto protobuf sink's encoder state.
cdef extern from "it_sink_pftrace.h" nogil:
    ctypedef struct it_pft:
        int oom
    it_pft *it_pft_new()
    void it_pft_free(it_pft *e)
