# Declarations of it_replay.h: replay --min-duration (kept calls with their ancestors).
from libc.stdint cimport int64_t
from infi_tracing.analysis.native.includes.it_rrec cimport it_rrec
from infi_tracing.analysis.native.includes.it_rfuncs cimport it_rfuncs
from infi_tracing.analysis.native.includes.it_rwrite cimport it_rwrite

cdef extern from "it_replay.h" nogil:
    ctypedef struct it_replay:
        int oom
    int it_replay_init(it_replay *rp, it_rwrite *w, const it_rfuncs *funcs, int64_t min_ns)
    void it_replay_destroy(it_replay *rp)
    int it_replay_record(it_replay *rp, const it_rrec *x)
