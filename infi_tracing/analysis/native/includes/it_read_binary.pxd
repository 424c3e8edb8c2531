# Declarations of it_read_binary.h: the binary trace source.
from libc.stdint cimport uint32_t
from infi_tracing.analysis.native.includes.it_rinput cimport it_rinput
from infi_tracing.analysis.native.includes.it_rfuncs cimport it_rfuncs
from infi_tracing.analysis.native.includes.it_rsource cimport it_rsource

cdef extern from "it_read_binary.h" nogil:
    const char *IT_RBIN_MAGIC
    it_rsource *it_read_binary_open(it_rinput *input, it_rfuncs *funcs, uint32_t index)
