# Declarations of it_pftrace.h: the Perfetto protobuf encoder (the live sink
# and the reader's decode share it).
from libc.stdint cimport int32_t, int64_t, uint32_t, uint64_t
from infi_tracing.native.includes.it_out cimport it_out

cdef extern from "it_pftrace.h" nogil:
    enum:
        IT_PFT_DONE
        IT_PFT_FULL
        IT_PFT_STEP_MAX
        IT_PFT_NAME_MAX
    ctypedef struct it_pft:
        int64_t wall_offset
        int oom
    int it_pft_init(it_pft *e, int64_t wall_offset)
    void it_pft_destroy(it_pft *e)
    int it_pft_event(it_pft *e, it_out *o, int ev, int64_t pid, int64_t tid, uint32_t g,
                     int32_t depth, uint64_t ts, uint32_t iid, const char *module,
                     const char *qualname)
    int it_pft_lost(it_pft *e, it_out *o, int64_t pid, int64_t tid, uint64_t ts, uint64_t count)
    int it_pft_log(it_pft *e, it_out *o, int64_t pid, int64_t tid, uint32_t g, uint64_t ts,
                   const char *level, const char *logger, const char *message)
    int it_pft_finish(it_pft *e, it_out *o)
