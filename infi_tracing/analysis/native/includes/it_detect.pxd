# Declarations of it_detect.h: an input's format from its first bytes.
from libc.stdint cimport uint32_t, uint64_t
from infi_tracing.analysis.native.includes.it_rinput cimport it_rinput
from infi_tracing.analysis.native.includes.it_rfuncs cimport it_rfuncs
from infi_tracing.analysis.native.includes.it_rsource cimport it_rsource

cdef extern from "it_detect.h" nogil:
    it_rsource *it_detect_open(it_rinput *input, it_rfuncs *funcs, uint32_t index, char *err,
                               uint64_t *err_offset)
