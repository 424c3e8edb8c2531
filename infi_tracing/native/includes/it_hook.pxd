# Declarations of it_hook.h: the hot path's entry points Cython calls.
cdef extern from "it_hook.h":
    # Thread-local: nonzero while the hook runs Python code of its own.
    int it_busy
    void it_log_record(const char *level, const char *logger, const char *message)
