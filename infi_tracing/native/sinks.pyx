# Sink handles and the Python side of the drain (included into _core.pyx).
#
# A native sink (fd + format) is written by the drain thread without the
# GIL.  A Python sink object gets batches of decoded records: the drain
# takes the GIL once per batch.  A sink's errors are counted and its failed
# batch is retried with the next one; nothing is raised into the program.
#
# Accounting (as for native sinks, it_sinks.h): records = written (write()
# returned), lost = given up on, pending = held for a retry; "lost N"
# notices are not records.  records + lost + pending == records handed over.

from libc.stdint cimport int64_t, uint32_t
from libc.stdlib cimport malloc, free
from libc.string cimport memset, memcpy
from infi_tracing._records import record_dict as _record_dict
from posix.unistd cimport close as _close
from cpython.object cimport PyObject
from infi_tracing.native.includes.it_events cimport (
    IT_EV_CALL, IT_EV_UNWIND, IT_EV_LOST, IT_EV_LOG, IT_EV_SWITCH, IT_EV_OMITTED, it_event_names)
from infi_tracing.native.includes.it_ring cimport it_record, it_ring, it_counter
from infi_tracing.native.includes.it_registry cimport it_code_entry, it_registry_get
from infi_tracing.native.includes.it_format cimport IT_FORMAT_TEXT, IT_FORMAT_JSONL, it_record_value
from infi_tracing.native.includes.it_syslog cimport (
    it_syslog, it_syslog_new, it_syslog_free, it_syslog_set_address, IT_SYSLOG_TCP,
    IT_SYSLOG_UDP, IT_SYSLOG_UNIX_DGRAM, IT_SYSLOG_UNIX_STREAM, IT_SYSLOG_TLS)
from infi_tracing.native.includes.it_tls cimport (
    it_tls_ctx_new, it_tls_new, it_tls_error, SSL_CTX_free)
from infi_tracing.native.includes.it_binary cimport it_binary_new, it_binary_free
from infi_tracing.native.includes.it_slow cimport (
    it_slow, it_slow_new, it_slow_free, it_omitted_of, IT_SLOW_NONE)
from infi_tracing.native.includes.it_sink_pftrace cimport it_pft_sink_new, it_pft_sink_free
from infi_tracing.native.includes.it_flight cimport it_flight_free
from infi_tracing.native.includes.it_sinks cimport (
    it_sink, it_sink_mark, IT_SINK_FD, IT_SINK_PY, IT_SINK_SYSLOG, IT_SINK_BINARY, IT_SINK_PFTRACE, IT_SINK_BUF,
    IT_SINK_MARKS, it_count_records, it_in_sink)
from infi_tracing.native.includes.it_drain cimport (
    it_d, it_drain_lock_sinks, it_drain_unlock_sinks, it_drain_update_pairing,
    it_drain_slow_release_leaving)
from infi_tracing.native.includes.it_drain_python cimport it_dpy, it_drain_abandoned

cdef int _PENDING_MAX = 100000   # records a failing Python sink may hold for retry
cdef Py_ssize_t _live_sink_handles = 0  # made minus freed (GIL held), for live_objects()


cdef class SinkHandle:
    """Native side of one configured sink."""
    cdef it_sink *s
    cdef readonly object target     # the Python sink object, or None
    cdef readonly str name
    cdef list pending               # Python sinks: records whose write failed
    cdef Py_ssize_t pending_records # of them, without "lost" notices
    cdef Py_ssize_t inflight        # records handed to a write() that has not returned
    cdef object exit_reason         # why exit gave up on it (exit.pyx), None: it did not

    def __cinit__(self):
        global _live_sink_handles
        _live_sink_handles += 1  # before anything can fail: __dealloc__ runs then too
        self.s = <it_sink *> malloc(sizeof(it_sink))
        if self.s == NULL:
            raise MemoryError()
        memset(self.s, 0, sizeof(it_sink))
        self.pending = []

    def __dealloc__(self):
        global _live_sink_handles
        _live_sink_handles -= 1
        if self.s != NULL:
            if self.s.owns_fd and self.s.fd >= 0:
                _close(self.s.fd)
            it_syslog_free(self.s.syslog)
            it_binary_free(self.s.binary)
            it_pft_sink_free(self.s.pftrace)
            it_flight_free(self.s.flight)
            it_slow_free(self.s.slow)
            free(self.s.buf)
            free(self.s.marks)
            free(self.s)

    @staticmethod
    def fd(int fd, str fmt, bint owns_fd, str name, bint values=True):
        """A sink the drain formats and writes natively (fd stays open)."""
        cdef SinkHandle h = SinkHandle()
        h.s.kind = IT_SINK_FD
        h.s.fd = fd
        h.s.owns_fd = owns_fd
        h.s.values = values
        h.s.format = IT_FORMAT_JSONL if fmt == "jsonl" else IT_FORMAT_TEXT
        h.s.buf = <char *> malloc(IT_SINK_BUF)
        h.s.marks = <it_sink_mark *> malloc(IT_SINK_MARKS * sizeof(it_sink_mark))
        if h.s.buf == NULL or h.s.marks == NULL:
            raise MemoryError()
        h.target = None
        h.name = name
        return h

    @staticmethod
    def binary(int fd, str name):
        """A binary trace file (see it_binary.h) on an fd this handle owns."""
        cdef SinkHandle h = SinkHandle.fd(fd, "text", True, name)
        h.s.kind = IT_SINK_BINARY
        h.s.binary = it_binary_new()
        if h.s.binary == NULL:
            raise MemoryError()
        return h

    @staticmethod
    def pftrace(int fd, str path, str name):
        """A Perfetto protobuf trace (see it_pftrace.h) on an fd this handle owns,
        opened at `path` (a forked child opens a file of its own beside it)."""
        cdef SinkHandle h = SinkHandle.fd(fd, "text", True, name)
        h.s.kind = IT_SINK_PFTRACE
        h.s.pftrace = it_pft_sink_new(_os.fsencode(path))
        if h.s.pftrace == NULL:
            raise MemoryError()
        return h

    @staticmethod
    def syslog(str transport, int family, str host, int port, str path, *, bint rfc5424,
               bint octet_framing, int facility, int severity, str hostname, str app_name,
               long procid, str msgid, size_t max_datagram, size_t spool_size,
               int flush_timeout_ms, bint values, str name, dict tls=None):
        """A syslog sink (arguments validated by infi_tracing.sinks.syslog).

        `tls` (transport "tls"): ca, cert, key (paths or ""), verify (bool),
        peer (the name the certificate must carry), peer_is_ip (bool).
        """
        cdef SinkHandle h = SinkHandle()
        cdef it_syslog *sl = it_syslog_new(spool_size)
        if sl == NULL:
            raise MemoryError()
        h.s.kind = IT_SINK_SYSLOG
        h.s.fd = -1
        h.s.syslog = sl
        h.s.values = values
        h.s.flush_timeout_ms = flush_timeout_ms
        sl.transport = {"tcp": IT_SYSLOG_TCP, "udp": IT_SYSLOG_UDP, "tls": IT_SYSLOG_TLS,
                        "unix-dgram": IT_SYSLOG_UNIX_DGRAM,
                        "unix-stream": IT_SYSLOG_UNIX_STREAM}[transport]
        if transport == "tls":
            _use_tls(sl, tls, name)
        if it_syslog_set_address(sl, family, host.encode(), port, _os.fsencode(path)) < 0:
            raise ValueError("address cannot be used: %r" % ((host, port, path),))
        sl.rfc5424 = rfc5424
        sl.octet_framing = octet_framing
        sl.facility = facility
        sl.severity = severity
        sl.procid = procid
        sl.max_datagram = max_datagram
        _copy_field(sl.hostname, hostname, 255)
        _copy_field(sl.appname, app_name, 48)
        _copy_field(sl.msgid, msgid, 32)
        h.target = None
        h.name = name
        return h

    @staticmethod
    def python(object target, str name):
        """A sink object with write(batch)/flush()/close(), fed decoded records."""
        cdef SinkHandle h = SinkHandle()
        h.s.kind = IT_SINK_PY
        h.s.fd = -1
        h.s.pyobj = <PyObject *> h
        h.target = target
        h.name = name
        return h

    def set_retention(self, min_ns, str keep_glob, uint64_t keep_ns, uint64_t max_held):
        """Slow-call retention (it_slow.h) for this sink, before it is
        installed: `min_ns` None for no min_duration rule, `keep_glob` None
        for no keep_slow rule; both None: every record (the default)."""
        if self.s.slow != NULL:
            raise ValueError("sink %s already has slow-call retention" % self.name)
        if min_ns is None and keep_glob is None:
            return
        cdef bytes glob = keep_glob.encode() if keep_glob is not None else None
        cdef it_slow *f = it_slow_new(IT_SLOW_NONE if min_ns is None else <uint64_t> min_ns,
                                      <const char *> glob if glob is not None else NULL,
                                      keep_ns, max_held)
        if f == NULL:
            raise MemoryError()
        cdef int locked
        with nogil:  # the sink may be installed: the drain reads `slow` under sinks_mu
            locked = it_drain_lock_sinks()
            self.s.slow = f
            if locked:
                it_drain_update_pairing()
                it_drain_unlock_sinks()

    def has_retention(self):
        """True when records pass this sink's slow-call retention."""
        return self.s.slow != NULL

    def stats(self):
        st = self._stats()
        cdef it_slow *f = self.s.slow
        if f != NULL:  # held records are pending too; given up ones lost
            st["omitted"] = it_counter(&f.omitted)
            st["pending"] += it_counter(&f.held)
            st["lost"] += it_counter(&f.lost)
        reason = _given_up_reason(self)
        if reason is not None:
            st["given_up_at_exit"] = reason
        return st

    def _stats(self):
        cdef it_syslog *sl = self.s.syslog
        if sl != NULL:
            return {
                "sink": self.name,
                "records": it_counter(&sl.delivered),
                "bytes": it_counter(&sl.bytes_sent),
                "errors": it_counter(&sl.errors),
                "lost": it_counter(&sl.lost),
                "connects": it_counter(&sl.connects),
                "reconnects": it_counter(&sl.reconnects),
                "pending": it_counter(&sl.pending),
                "error": _tls_error(sl),
            }
        return {
            "sink": self.name,
            "records": it_counter(&self.s.records),
            "bytes": it_counter(&self.s.bytes),
            "errors": it_counter(&self.s.errors),
            "lost": it_counter(&self.s.lost),
            "pending": (self.pending_records if self.target is not None
                        else it_counter(&self.s.pending)),
            "error": _errno_text(self.s.last_errno),
        }

    cdef void deliver(self, list batch, Py_ssize_t records) noexcept:
        """GIL held, drain thread.  Retries earlier failed records first.
        `records`: how many of the batch are records (not "lost" notices)."""
        if self.pending:
            batch = self.pending + batch
            records += self.pending_records
            self.pending = []
            self.pending_records = 0
        self.inflight = records
        failed = False
        try:
            _call_sink(self.target.write, (batch,))
        except BaseException:
            failed = True
        if it_drain_abandoned() or self.exit_reason is not None:
            return  # exit gave up on this call: it counted `inflight` lost (exit.pyx)
        self.inflight = 0
        if not failed:
            self.s.records += records
        else:
            self.s.errors += 1
            overflow = len(batch) - _PENDING_MAX
            if overflow > 0:
                dropped = _count_records(batch[:overflow])
                self.s.lost += dropped
                records -= dropped
                batch = batch[overflow:]
            self.pending = batch
            self.pending_records = records

    cdef void flush(self) noexcept:
        if self.target is None or self.exit_reason is not None:
            return  # given up at exit: its write() or flush() may still run
        try:
            if self.pending:
                self.deliver([], 0)
            _call_sink(self.target.flush)
        except BaseException:
            self.s.errors += 1

    cdef void give_up(self) noexcept:
        """No retry will come (the end, or the sink was replaced): held records are lost."""
        self.s.lost += self.pending_records
        self.pending = []
        self.pending_records = 0


cdef object _call_sink(object method, tuple args=()):
    """A Python sink's method, with this thread marked as inside a sink
    (see it_in_sink; _refuse_in_sink)."""
    global it_in_sink
    cdef int outer = it_in_sink
    it_in_sink = 1
    try:
        return method(*args)
    finally:
        it_in_sink = outer


def _refuse_in_sink(str what):
    """RuntimeError when a tracing call comes from inside a sink's code."""
    if it_in_sink:
        raise RuntimeError(
            "infi_tracing: %s() called from inside a sink (its write() or flush()): it would "
            "wait for the drain thread, which runs the sink and waits for it to return; call "
            "it from the program instead" % what)


cdef Py_ssize_t _count_records(list batch):
    """Records of a decoded batch, without the "lost" notices."""
    cdef Py_ssize_t k = 0
    for rec in batch:
        if rec["event"] != "lost":
            k += 1
    return k


cdef object _errno_text(int err):
    """"ENOSPC (No space left on device)" for the errno a sink gave up on, or None."""
    if not err:
        return None
    return "%s (%s)" % (_errno.errorcode.get(err, "errno %d" % err), _os.strerror(err))


cdef int _use_tls(it_syslog *sl, dict tls, str name) except -1:
    """Give the sink its TLS context; ValueError names a file OpenSSL refused."""
    cdef char err[400]
    cdef void *ctx = it_tls_ctx_new(_os.fsencode(tls["ca"]), _os.fsencode(tls["cert"]),
                                    _os.fsencode(tls["key"]), tls["verify"], err, sizeof(err))
    if ctx == NULL:
        raise ValueError(err.decode("utf-8", "replace"))
    sl.tls = it_tls_new(ctx, tls["peer"].encode("ascii"),
                        tls["peer_is_ip"], tls["verify"], name.encode("utf-8", "replace")[:127],
                        sl.ends_cap)
    if sl.tls == NULL:
        SSL_CTX_free(ctx)
        raise MemoryError()
    return 0


cdef object _tls_error(it_syslog *sl):
    """A TLS sink's last failure (e.g. the certificate verification error), or None."""
    cdef char buf[256]
    if sl.tls == NULL:
        return None
    it_tls_error(sl.tls, buf, sizeof(buf))
    return buf.decode("utf-8", "replace") or None


cdef int _copy_field(char *dest, str value, size_t limit) except -1:
    """Copy a printable-ASCII header field (validated by the caller)."""
    cdef bytes b = value.encode("ascii")[:limit]
    memcpy(dest, <char *> b, len(b))
    dest[len(b)] = 0
    return 0


cdef inline str _value(const it_record *r, int i):
    return it_record_value(r, i).decode("utf-8", "replace")


cdef dict _code_fields = {}  # code id -> (module, qualname, file, line, argument names)


cdef tuple _code_of(uint32_t code_id):
    """A registry entry's fields as Python strings, decoded once per code id:
    entries are never freed or changed (it_registry.h), so the cache stays
    true.  GIL held (the drain thread holds it for the batch)."""
    cdef const it_code_entry *e
    cdef int i
    fields = _code_fields.get(code_id)
    if fields is None:
        e = it_registry_get(code_id)
        fields = (e.module.decode("utf-8", "replace"), e.qualname.decode("utf-8", "replace"),
                  e.filename.decode("utf-8", "replace"), e.firstlineno,
                  tuple([e.argnames[i].decode("utf-8", "replace") for i in range(e.nargs)]))
        _code_fields[code_id] = fields
    return <tuple> fields


cdef object _decode_record(const it_record *r, long pid, long tid, int64_t wall_offset,
                           int64_t duration_ns):
    """A record as the dict Python sinks receive: its fields taken out of the
    ring here, the dict built by _records.record_dict (as for binary files);
    `duration_ns` an exit's duration from the drain's pairing (negative: none)."""
    cdef int i, n
    if r.event == IT_EV_LOST:
        return _record_dict(r.event, r.ts, wall_offset, pid, tid, 0, 0, None, None, r.count)
    if r.event == IT_EV_LOG:
        return _record_dict(r.event, r.ts, wall_offset, pid, tid, r.greenlet_id, r.depth,
                            None, [_value(r, 0), _value(r, 1), _value(r, 2)])
    if r.event == IT_EV_OMITTED:
        o = it_omitted_of(r)
        return _record_dict(r.event, r.ts, wall_offset, pid, tid, r.greenlet_id, r.depth,
                            None, None, o.calls, omitted=(o.wall_ns, o.active_ns))
    code = _code_of(r.code_id)
    if r.event == IT_EV_CALL:
        n = min(r.nvalues, len(code[4]))
        values = [_value(r, i) for i in range(n)] if n else None
    elif r.nvalues or r.event == IT_EV_UNWIND:
        # An exception always has its text (it_record_value gives "" past the end).
        values = [_value(r, 0)]
    else:
        values = None
    return _record_dict(r.event, r.ts, wall_offset, pid, tid, r.greenlet_id, r.depth, code,
                        values, 0, duration_ns)


cdef void _py_batch(it_sink *s, const it_ring *r, const it_record **recs, const int64_t *durs,
                    size_t n, long pid, int64_t wall_offset) noexcept:
    """it_d.py_batch: runs in the drain thread, which holds the GIL for this batch.
    Switch records are not handed over (notices, not records: see it_events.h)."""
    cdef size_t i
    cdef Py_ssize_t records = it_count_records(recs, n)
    try:
        _exclude_this_thread()
        batch = [_decode_record(recs[i], pid, r.tid, wall_offset, durs[i]) for i in range(n)
                 if recs[i].event != IT_EV_SWITCH]
        if not batch:
            return  # only switches: nothing for the sink (held records wait for the next batch)
        (<SinkHandle> s.pyobj).deliver(batch, records)
    except BaseException:
        s.errors += 1
        s.lost += records  # never reached the sink

cdef int _exclude_this_thread() except -1:
    """The drain thread runs Python sinks: never trace what it runs."""
    global _untraced_states, _threads_seen
    cdef ThreadState ts = _thread_state_obj(True)
    if not ts.untraced:
        ts.untraced = True
        _untraced_states += 1
        _threads_seen -= 1
    ts.current.st.user_excl = 1 << 30
    return 0


cdef list _sink_handles = []


def set_sinks(list handles):
    """Replace the sink list; the drain never sees a half-changed list."""
    global _sink_handles
    cdef int n = len(handles), i
    cdef it_sink **arr = <it_sink **> malloc(max(n, 1) * sizeof(it_sink *))
    cdef it_sink **old
    if arr == NULL:
        raise MemoryError()
    for i in range(n):
        arr[i] = (<SinkHandle> handles[i]).s
    cdef int locked
    with nogil:
        locked = it_drain_lock_sinks()
        if locked:
            it_drain_slow_release_leaving(arr, n)
        old = it_d.sinks
        it_d.sinks = arr
        it_d.nsinks = n
        if locked:
            it_drain_update_pairing()
            it_drain_unlock_sinks()
    free(old)
    previous = _sink_handles
    _sink_handles = list(handles)
    for h in previous:
        if not any(h is k for k in handles):
            (<SinkHandle> h).give_up()
    return previous


def keep_call_times(bint on):
    """Pair calls with their exits even when no sink shows durations (only
    binary files), for top_functions()' total and self times (run's summary)."""
    cdef int locked
    with nogil:
        locked = it_drain_lock_sinks()
        it_d.times_wanted = on
        if locked:
            it_drain_update_pairing()
            it_drain_unlock_sinks()


def live_objects():
    """How many objects of each native type are alive, for leak checks."""
    return {"GState": _live_gstates, "ThreadState": _live_tstates,
            "SinkHandle": _live_sink_handles}


def flush_python_sinks():
    """Flush Python sinks (after the drain flushed): GIL held here.  The
    sinks' own code is not traced.  Once exit began, each flush is bounded
    (exit.pyx)."""
    if _exiting:
        _flush_python_sinks_at_exit()
    else:
        call_untraced(_flush_all)


def _flush_all():
    for h in _sink_handles:
        (<SinkHandle> h).flush()


def call_untraced(fn, *args):
    """fn(*args) with tracing suspended in the current greenlet: the
    tracer's calls into sink code must not appear in the trace."""
    cdef ThreadState ts = _thread_state_obj(True)
    cdef GState gs = ts.current
    gs.st.user_excl += 1
    try:
        return fn(*args)
    finally:
        gs.st.user_excl -= 1
