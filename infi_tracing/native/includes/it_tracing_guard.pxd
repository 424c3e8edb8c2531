# Declarations of it_tracing_guard.h: tracing lowered around the filter call.
cdef extern from "it_tracing_guard.h":
    int it_tracing_lower()
    void it_tracing_raise(int lowered)
