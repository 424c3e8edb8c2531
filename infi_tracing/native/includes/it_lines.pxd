# Declarations of it_lines.h: the text and JSON-lines formatting shared by the live sinks and
# the trace reader.
cdef extern from "it_lines.h" nogil:
    enum:
        IT_FORMAT_TEXT
        IT_FORMAT_JSONL
        IT_LINE_MAX
