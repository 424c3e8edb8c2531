# Declarations of it_sink_pftrace.h: the live Perfetto protobuf sink's state.
cdef extern from "it_sink_pftrace.h" nogil:
    ctypedef struct it_pft_sink:
        pass
    it_pft_sink *it_pft_sink_new(const char *path)
    void it_pft_sink_free(it_pft_sink *p)
