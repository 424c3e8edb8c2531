# Declarations of it_format.h: text and JSON-lines formatting.
from infi_tracing.native.includes.it_ring cimport it_record

cdef extern from "it_format.h" nogil:
    enum:
        IT_FORMAT_TEXT
        IT_FORMAT_JSONL
    const char *it_record_value(const it_record *r, int i)
