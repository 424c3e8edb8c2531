# Declarations of it_reader.h: the reader's driver (inputs, pairing, filters).
from libc.stdint cimport int32_t, int64_t, uint8_t, uint32_t, uint64_t
from infi_tracing.analysis.native.includes.it_rrec cimport it_rrec
from infi_tracing.analysis.native.includes.it_rfuncs cimport it_rfuncs
from infi_tracing.analysis.native.includes.it_rsource cimport it_rsource

cdef extern from "it_reader.h" nogil:
    enum:
        IT_READER_TIME_NONE
        IT_READER_TIME_WALL
        IT_READER_TIME_RELATIVE

    ctypedef struct it_reader_error:
        uint32_t source
        uint64_t offset
        char msg[512]

    ctypedef int (*it_reader_decide_fn)(void *ctx, uint32_t func) noexcept

    ctypedef struct it_reader_filters:
        int start_kind, end_kind
        int64_t start_ns, end_ns
        const int64_t *pids
        const int64_t *tids
        uint32_t npids, ntids
        const uint32_t *greenlets
        uint32_t ngreenlets
        int has_depth
        int32_t max_depth
        it_reader_decide_fn decide
        void *decide_ctx

    ctypedef struct it_reader:
        it_rfuncs funcs
        char **paths
        uint32_t npaths
        it_rsource *src
        it_reader_error *errors
        uint32_t nerrors
        uint64_t *skipped
        uint64_t *skipped_offset
        it_reader_filters f
        uint64_t records
        int oom

    int it_reader_init(it_reader *r, const char *const *paths, uint32_t npaths)
    void it_reader_destroy(it_reader *r)
    int it_reader_next(it_reader *r, it_rrec *out)
    uint32_t it_reader_current(const it_reader *r)
