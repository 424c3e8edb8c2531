# Text and JSON lines of a NativeReader's records, written natively to an fd
# (decode, replay); included by _reader.pyx.  The loop runs in C: Python is
# called only every PROGRESS_EVERY records, for the progress line and to let
# a signal (Ctrl-C) through.

cdef enum:
    PROGRESS_EVERY = 1 << 16

FORMATS = {"text": IT_FORMAT_TEXT, "jsonl": IT_FORMAT_JSONL}


def write_lines(NativeReader reader, int fd, str format="text", int64_t min_duration_ns=-1,
                progress=None):
    """Write every record of `reader` to `fd` as `format` lines ("text" or
    "jsonl"); with `min_duration_ns` >= 0, replay's selection (text only:
    the calls that took at least that long, with their ancestors).
    `progress(records, byte offset in the current input)` is called now
    and then.  Returns (records read,
    errno of a failed write or 0): EPIPE means the reading end went away."""
    if format not in FORMATS:
        raise ValueError("format: expected one of %s, got %r" % (", ".join(FORMATS), format))
    cdef it_rwrite w
    cdef it_replay rp
    cdef it_rrec rec
    cdef uint64_t n = 0
    cdef bint replay = min_duration_ns >= 0
    cdef int failed = 0
    if it_rwrite_init(&w, fd, FORMATS[format]):
        raise MemoryError()
    if replay and it_replay_init(&rp, &w, &reader.r.funcs, min_duration_ns):
        it_rwrite_destroy(&w)
        raise MemoryError()
    try:
        while reader.next(&rec):
            n += 1
            if replay:
                failed = it_replay_record(&rp, &rec)
            else:
                failed = it_rwrite_record(&w, &rec, it_rfuncs_get(&reader.r.funcs, rec.func))
            if failed:
                break
            if n % PROGRESS_EVERY == 0:
                PyErr_CheckSignals()
                if progress is not None:
                    progress(n, rec.offset)
        it_rwrite_flush(&w)
        return n, w.err
    finally:
        if replay:
            it_replay_destroy(&rp)
        it_rwrite_destroy(&w)
