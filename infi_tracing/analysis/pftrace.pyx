# Perfetto protobuf from the reader (included by _reader.pyx): `decode
# --format perfetto-proto`.  Each record goes from the reader's next() to
# the encoder of infi_tracing/native/it_pftrace.h (the one the live
# perfetto+proto:// sink uses) without becoming a Python object.

from posix.unistd cimport write as _write
from libc.errno cimport errno, EINTR
from infi_tracing.native.includes.it_out cimport it_out
from infi_tracing.native.includes.it_pftrace cimport (
    it_pft, it_pft_init, it_pft_destroy, it_pft_event, it_pft_lost, it_pft_log, it_pft_finish,
    IT_PFT_DONE, IT_PFT_STEP_MAX, IT_PFT_NAME_MAX)

cdef enum:
    _PFT_BUF = 1 << 20  # bytes gathered per write()


cdef int _pft_flush(int fd, it_out *o, object path) except -1:
    """Write out the buffer; OSError names the output file."""
    cdef size_t off = 0
    cdef ssize_t n
    while off < o.len:
        with nogil:
            n = _write(fd, o.p + off, o.len - off)
        if n < 0 and errno == EINTR:
            continue
        if n <= 0:
            err = errno if n < 0 else 5  # EIO: write() took nothing
            raise OSError(err, "cannot write the Perfetto protobuf trace (path=%r): %s"
                          % (path, _os.strerror(err)), path)
        off += <size_t>n
    o.len = 0
    return 0


cdef int _pft_record(it_pft *e, it_out *o, it_rrec *x, const it_rfunc *f) noexcept nogil:
    """One record into the encoder: IT_PFT_DONE, or IT_PFT_FULL (write out, call again)."""
    cdef char values[3 * IT_PFT_NAME_MAX + 3]
    cdef char *parts[3]
    cdef size_t i, k, n
    e.wall_offset = x.wall_offset
    if x.event == IT_EV_LOST:
        return it_pft_lost(e, o, x.pid, x.tid, x.ts, x.count)
    if x.event == IT_EV_LOG:
        # level, logger, message: NUL-separated in values_len bytes, the last
        # one maybe unterminated; copied (cut) so that each ends with a NUL
        n = x.values_len if x.values != NULL else 0
        if n > sizeof(values) - 1:
            n = sizeof(values) - 1
        for i in range(n):
            values[i] = x.values[i]
        values[n] = 0
        k = 0
        i = 0
        while k < 3:
            parts[k] = &values[i] if i <= n else &values[n]
            k += 1
            while i < n and values[i] != 0:
                i += 1
            i += 1
        return it_pft_log(e, o, x.pid, x.tid, x.greenlet, x.ts, parts[0], parts[1], parts[2])
    if f == NULL:
        return IT_PFT_DONE  # switch records: the tracks show them
    return it_pft_event(e, o, x.event, x.pid, x.tid, x.greenlet, x.depth, x.ts, x.func,
                        f.module, f.qualname)


def write_perfetto_proto(NativeReader reader, int fd, str path):
    """Every record `reader` gives, as a Perfetto protobuf trace written to
    `fd` (named `path` in errors); slices still open at the end end at the
    trace's last time, cut.  Returns the records read."""
    cdef it_pft e
    cdef it_out o
    cdef it_rrec x
    cdef const it_rfunc *f
    cdef uint64_t count = 0
    if it_pft_init(&e, 0) < 0:
        raise MemoryError()
    o.p = <char *>malloc(_PFT_BUF)
    o.len = 0
    o.cap = _PFT_BUF
    if o.p == NULL:
        it_pft_destroy(&e)
        raise MemoryError()
    try:
        while reader.next(&x):
            count += 1
            f = it_rfuncs_get(&reader.r.funcs, x.func) if it_event_has_code(x.event) else NULL
            while _pft_record(&e, &o, &x, f) != IT_PFT_DONE:
                _pft_flush(fd, &o, path)
            if o.cap - o.len < IT_PFT_STEP_MAX:
                _pft_flush(fd, &o, path)
        while it_pft_finish(&e, &o) != IT_PFT_DONE:
            _pft_flush(fd, &o, path)
        _pft_flush(fd, &o, path)
        if e.oom:
            raise MemoryError("out of memory writing the Perfetto protobuf trace")
    finally:
        it_pft_destroy(&e)
        free(o.p)
    return count
