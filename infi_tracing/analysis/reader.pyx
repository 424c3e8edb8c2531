# NativeReader: the native reader driven from Python (included by
# _reader.pyx); infi_tracing.analysis.Reader is its public face (Cython
# cannot name an argument "include").
# Python sees records one dict at a time (records(), for tests and Python
# users) or, in the other .pyx files of this module, one it_rrec at a time
# through the cdef next() (report, pftrace): per-record work stays in C.

from infi_tracing._globs import glob_matcher as _glob_matcher
from infi_tracing._records import record_dict as _record_dict
from infi_tracing.analysis._filters import parse_time as _parse_time


cdef int _reader_decide(void *ctx, uint32_t func) noexcept with gil:
    """it_reader.h's decide callback: the --include/--exclude rule of
    infi_tracing/_globs.py, asked once per function; -1 keeps the
    exception for next() to raise."""
    cdef NativeReader reader = <NativeReader>ctx
    try:
        module, qualname, filename, line = reader.function(func)
        return 1 if reader._matcher((module,), filename) else 0
    except BaseException as exc:
        reader._failure = exc
        return -1


cdef class NativeReader:
    """Reads trace files: binary (so far), several one after another.

    ``NativeReader(paths, start, end, pids, tids, greenlets, includes,
    excludes, depth)`` (infi_tracing.analysis.Reader takes them as keywords):
    `paths` a list of files ("-" is
    standard input, read once); `start`/`end` a wall time (ISO 8601, as text
    traces show it) or seconds into the trace (relative to the first
    record); `pids`, `tids`, `greenlets` keep only those (a switch record
    matches by either greenlet; "lost" records match any greenlet);
    `includes`/`excludes` module-name or file-path globs as ``run --include``
    takes them (records without a function pass); `depth` keeps records at
    depth <= N (0: the outermost calls).  Every record is paired before any
    filter, so durations and self times do not depend on the filters.

    An input that is damaged, cut short or not a trace does not stop the
    others: its readable records are delivered, then `errors` gets
    (path, byte offset, message).
    """
    cdef it_reader r
    cdef int64_t *_pids
    cdef int64_t *_tids
    cdef uint32_t *_greenlets
    cdef list _codes
    cdef readonly list paths
    cdef object _matcher
    cdef object _failure
    cdef bint _ready

    def __cinit__(self):
        memset(&self.r, 0, sizeof(self.r))
        self._pids = self._tids = NULL
        self._greenlets = NULL
        self._ready = False

    def __init__(self, paths, start=None, end=None, pids=(), tids=(), greenlets=(),
                 includes=(), excludes=(), depth=None):
        if isinstance(paths, (str, bytes)) or hasattr(paths, "__fspath__"):
            paths = [paths]
        self.paths = [_os.fsdecode(p) for p in paths]
        if not self.paths:
            raise ValueError("paths: expected at least one trace file")
        self._codes = [None]
        self._failure = None
        self._matcher = _glob_matcher(includes, excludes)
        pids, tids, greenlets = (_int_list(pids, "pids"), _int_list(tids, "tids"),
                                 _int_list(greenlets, "greenlets"))
        if depth is not None and (not isinstance(depth, int) or isinstance(depth, bool) or
                                  depth < 0):
            raise ValueError("depth: expected an integer >= 0, got %r" % (depth,))
        for value in greenlets:
            if not 0 <= value < 1 << 32:
                raise ValueError("greenlets: %d is not a greenlet id (0 to 2**32-1)" % value)
        encoded = [_os.fsencode(p) for p in self.paths]
        cdef const char **cpaths = <const char **>malloc(len(encoded) * sizeof(char *))
        if cpaths == NULL:
            raise MemoryError()
        for i, p in enumerate(encoded):
            cpaths[i] = p
        try:
            if it_reader_init(&self.r, cpaths, len(encoded)):
                raise MemoryError()
        finally:
            free(cpaths)
        if start is not None:
            self.r.f.start_kind, self.r.f.start_ns = _parse_time(start, "start")
        if end is not None:
            self.r.f.end_kind, self.r.f.end_ns = _parse_time(end, "end")
        self._pids = _int64_array(pids)
        self._tids = _int64_array(tids)
        self._greenlets = <uint32_t *>malloc(max(len(greenlets), 1) * sizeof(uint32_t))
        if self._greenlets == NULL:
            raise MemoryError()
        for i, value in enumerate(greenlets):
            self._greenlets[i] = value
        self.r.f.pids, self.r.f.npids = self._pids, len(pids)
        self.r.f.tids, self.r.f.ntids = self._tids, len(tids)
        self.r.f.greenlets, self.r.f.ngreenlets = self._greenlets, len(greenlets)
        if depth is not None:
            self.r.f.has_depth = 1
            self.r.f.max_depth = min(depth, 2**31 - 1)
        if self._matcher is not None:
            self.r.f.decide = _reader_decide
            self.r.f.decide_ctx = <void *>self
        self._ready = True

    def __dealloc__(self):
        it_reader_destroy(&self.r)
        free(self._pids)
        free(self._tids)
        free(self._greenlets)

    cdef int next(self, it_rrec *out) except -1:
        """The next record that passes the filters into *out: 1, or 0 when
        every input is read (see `errors`).  Its strings stay valid until the
        next call (values) or as long as the reader (functions)."""
        if not self._ready:
            raise ValueError("the reader was not initialised")
        cdef int got = it_reader_next(&self.r, out)
        if got < 0:
            failure, self._failure = self._failure, None
            raise failure
        return got

    def records(self):
        """Yield every record that passes the filters as a dict with the keys
        Python sinks get (infi_tracing._records.record_dict), with
        `duration_ns` on exits whose call is known, and for analysis
        `active_ns` (less the time its greenlet was switched out) and
        `self_ns` (less its direct callees')."""
        cdef it_rrec rec
        while self.next(&rec):
            yield self._dict(&rec)

    def count(self):
        """Read every remaining record (paired and filtered) and return how
        many passed the filters: a quick count, and the reader's own speed
        (no Python per record)."""
        cdef it_rrec rec
        cdef uint64_t n = 0
        while self.next(&rec):
            n += 1
            if n % (1 << 20) == 0:
                PyErr_CheckSignals()
        return n

    cdef object _dict(self, it_rrec *x):
        cdef object values = None
        if x.values != NULL:
            values = [v.decode("utf-8", "replace")
                      for v in x.values[:x.values_len].split(b"\0")[:x.nvalues]]
        if x.event == IT_EV_LOST:
            return _record_dict(x.event, x.ts, x.wall_offset, x.pid, x.tid, count=x.count)
        if x.event == IT_EV_SWITCH:
            return _record_dict(x.event, x.ts, x.wall_offset, x.pid, x.tid, x.greenlet,
                                from_greenlet=x.from_greenlet)
        if x.event == IT_EV_OMITTED:
            return _record_dict(x.event, x.ts, x.wall_offset, x.pid, x.tid, x.greenlet,
                                x.depth, count=x.count,
                                omitted=(x.duration_ns,
                                         x.active_ns if x.active_ns >= 0 else x.duration_ns))
        if not it_event_has_code(x.event):
            return _record_dict(x.event, x.ts, x.wall_offset, x.pid, x.tid, x.greenlet,
                                x.depth, None, values)
        rec = _record_dict(x.event, x.ts, x.wall_offset, x.pid, x.tid, x.greenlet, x.depth,
                           self._code(x.func), values, duration_ns=x.duration_ns)
        if x.active_ns >= 0:
            rec["active_ns"] = x.active_ns
        if x.self_ns >= 0:
            rec["self_ns"] = x.self_ns
        return rec

    cdef object _code(self, uint32_t func):
        """(module, qualname, file, line, argument names) of a function, made
        once per function."""
        cdef const it_rfunc *f
        while len(self._codes) <= func:
            self._codes.append(None)
        code = self._codes[func]
        if code is None:
            f = it_rfuncs_get(&self.r.funcs, func)
            code = (f.module.decode("utf-8", "replace"), f.qualname.decode("utf-8", "replace"),
                    f.filename.decode("utf-8", "replace"), f.line,
                    tuple(f.argnames[i].decode("utf-8", "replace") for i in range(f.nargs)))
            self._codes[func] = code
        return code

    def function(self, func):
        """(module, qualname, file, line) of function index `func` (the
        reader's function table; 0 is "no function")."""
        if not 0 <= func < self.r.funcs.n:
            raise IndexError("function %r: the reader knows 0 to %d" % (func, self.r.funcs.n - 1))
        return self._code(func)[:4]

    @property
    def skipped(self):
        """(path, lines, byte offset of the first) of each text or jsonl input
        read so far that held lines which are not trace records (another
        program's syslog messages, a torn last line): skipped, not fatal."""
        return [(self.paths[i], self.r.skipped[i], self.r.skipped_offset[i])
                for i in range(self.r.npaths) if self.r.skipped[i]]

    @property
    def errors(self):
        """(path, byte offset, message) of each input that could not be read
        to its end, in the order met."""
        return [(self.paths[self.r.errors[i].source], self.r.errors[i].offset,
                 self.r.errors[i].msg.decode("utf-8", "replace"))
                for i in range(self.r.nerrors)]

    @property
    def records_read(self):
        """Records read so far, before the filters."""
        return self.r.records

    @property
    def current(self):
        """Index in `paths` of the input being read (or last read)."""
        return it_reader_current(&self.r)


def _int_list(values, name):
    """`values` as a list of ints; ValueError naming `name` otherwise."""
    try:
        result = [int(v) for v in values]
    except (TypeError, ValueError):
        raise ValueError("%s: expected integers, got %r" % (name, values)) from None
    for value in result:
        if not -(1 << 63) <= value < 1 << 63:
            raise ValueError("%s: %d is out of range" % (name, value))
    return result


cdef int64_t *_int64_array(list values) except NULL:
    cdef int64_t *a = <int64_t *>malloc(max(len(values), 1) * sizeof(int64_t))
    if a == NULL:
        raise MemoryError()
    for i, value in enumerate(values):
        a[i] = value
    return a
