# Declarations of it_hook.h: the hot path's entry points Cython calls.
from libc.stdint cimport uint32_t
from infi_tracing.native.includes.it_state cimport it_tstate

cdef extern from "it_hook.h":
    # Thread-local: nonzero while the hook runs Python code of its own.
    int it_busy
    void it_log_record(const char *level, const char *logger, const char *message)
    void it_emit_switch(it_tstate *ts, uint32_t from_id, uint32_t to_id)
