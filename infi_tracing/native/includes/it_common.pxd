# Declarations of it_common.h: levels, version shims (record kinds: it_events.pxd).
cdef extern from "it_common.h" nogil:
    enum:
        IT_NO_TRACE
        IT_NO_TRACE_NESTED
        IT_TRACE_FUNC_NAME
        IT_TRACE_FUNC_PRIMITIVES
        IT_TRACE_FUNC_REPR
    int IT_GEN_FLAGS
    long it_gettid()
    ctypedef struct it_saved_exc:
        pass
    void it_exc_save(it_saved_exc *s)
    void it_exc_restore(it_saved_exc *s)
    Py_ssize_t IT_REQUEST_EXTRA_INDEX(void *freefunc)
    int IT_CODE_SET_EXTRA(object code, Py_ssize_t index, void *extra)
