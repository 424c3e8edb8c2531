# Declarations of it_binary.h: the binary trace file writer.
cdef extern from "it_binary.h" nogil:
    ctypedef struct it_binary:
        pass
    it_binary *it_binary_new()
    void it_binary_free(it_binary *b)
