"""Chrome/Perfetto trace-event JSON sink: one track per greenlet, streamed as records arrive.

The file is the "JSON Array Format" of the Trace Event Format: a bare JSON
array, one event per line, the separating comma *leading* each line but the
first event's, never trailing::

    [
    {"ph":"M","name":"process_name","pid":42,"ts":5.1,"args":{"name":"python (pid 42)"}}
    ,{"ph":"M","name":"thread_name","pid":42,"tid":1,"ts":5.1,"args":{"name":"greenlet 1 ..."}}
    ,{"ph":"M","name":"thread_sort_index","pid":42,"tid":1,"ts":5.1,"args":{"sort_index":1}}
    ,{"ph":"B","name":"__main__.f","cat":"python","ts":5.1,"pid":42,"tid":1,"args":{"x":"21"}}
    ,{"ph":"E","name":"__main__.f","cat":"python","ts":7.25,"pid":42,"tid":1,"args":{"retval":"42"}}
    ]

So between writes the file is always a JSON array missing only its ``]``: a
file cut after any complete line (a crash, ``os._exit()``, SIGKILL) is valid
JSON once ``]`` is appended, and Perfetto and chrome://tracing load it as it
is (the format lets the closing bracket be missing).  close() writes the
``]``; the tracer closes its sinks at interpreter exit, after the last
records, so a normal exit leaves strict JSON.  (Should the
disk fill in the middle of a line, the line is finished before anything
else is written.)

A forked child appends its events to the same file (O_APPEND, whole
batches per write) and never writes the ``]``: the array belongs to the
process that opened the file, so events a child writes after that
process closed the sink land after the ``]``.  Greenlet ids are per
process, so Perfetto, which keys thread names by tid, may mix up the
names of same-numbered tracks of two processes.

Tracks: ``pid`` is the record's pid, ``tid`` the greenlet id (unique per
process), named "greenlet N (thread T)"; call/resume are "B" events,
return/exception/yield "E" events; ``ts`` is the monotonic clock in
microseconds.  Arguments go in the "B" event's args, ``retval`` or
``exception`` in the "E" event's.  A "lost" record is an instant event
"lost N records" on a track per process and OS thread, ``tid`` = 2**31 +
T, named "thread T" (greenlet ids count up from 1 and never get there).
"""

import errno
import fcntl
import json
import os
import threading

from infi_tracing._format import json_safe
from infi_tracing.sinks.files import open_trace_file, trace_file_path

__all__ = ["PerfettoSink", "LOST_TRACK_BASE"]

LOST_TRACK_BASE = 1 << 31  # thread tracks for "lost" records: tid = LOST_TRACK_BASE + OS tid
_HEADER = b"[\n"
_BEGIN = frozenset(("call", "resume"))
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _dumps(event):
    """One event as JSON, values exact, no raw control or line-separator character."""
    return json_safe(_encode(event))


class PerfettoSink:
    """Records appended as trace events to a Perfetto JSON array file (truncated when opened).

    write() raises OSError only when none of the batch reached the file (the
    tracer counts the error and retries the batch); if the disk fills in the
    middle of a batch, the rest is kept and written first next time.
    """

    def __init__(self, path, open_now=True, follow_symlinks=False):
        self.path = trace_file_path(path)
        self.follow_symlinks = follow_symlinks  # see sinks.files.open_trace_file
        self._fd = None
        self._owner = None  # the process that opened the file writes its "]"
        self._lock = threading.Lock()
        self._started = False  # an event line is in the file: the next one leads with ","
        self._backlog = b""  # the unwritten end of a batch the disk took only part of
        self._procs = set()  # pids with a process_name
        self._tracks = set()  # (pid, tid) with a thread_name
        self._opened = False
        if open_now:
            self.open()

    def open(self):
        """Truncate the file and start the array (OSError names the file); once.
        With ``open_now=False`` configuring the sink calls it, after every
        spec was found valid, so a bad spec leaves the file as it was."""
        if self._opened:
            return
        self.path, fd = open_trace_file(self.path, os.O_WRONLY | os.O_TRUNC | os.O_APPEND,
                                        "Perfetto trace file", self.follow_symlinks)
        try:
            _write_all(fd, _HEADER)
        except OSError as exc:
            os.close(fd)
            raise OSError(exc.errno, "infi_tracing: cannot write the Perfetto trace file "
                          "(path=%r): %s" % (self.path, exc.strerror), self.path) from None
        except BaseException:
            os.close(fd)
            raise
        self._fd, self._opened, self._owner = fd, True, os.getpid()

    def write(self, batch):
        """Append the batch's events; a no-op after close()."""
        with self._lock:
            if self._fd is None:
                return
            self._write_backlog()
            procs, tracks, lines = set(), set(), []
            for rec in batch:
                lines.extend(_dumps(event) for event in self._events(rec, procs, tracks))
            if not lines:
                return
            body = "\n,".join(lines) + "\n"
            if self._started:
                self._append(("," + body).encode("utf-8", "backslashreplace"))
            else:
                # Our first event: whether it leads with "," depends on whether a forked
                # relative (or the parent) got an event in first.  Deciding and writing
                # under a POSIX record lock (per process, unlike flock on a shared open
                # file) keeps two first writers from both leaving the comma out.
                locked = _lock(self._fd)
                try:
                    first = "," if self._others_wrote() else ""
                    self._append((first + body).encode("utf-8", "backslashreplace"))
                finally:
                    if locked:
                        _unlock(self._fd)
            self._started = True
            self._procs |= procs
            self._tracks |= tracks

    def flush(self):
        """Hand what is pending to the OS (no fsync; events are written per batch)."""
        with self._lock:
            if self._fd is not None:
                self._write_backlog()

    def close(self):
        """Write the closing ``]`` and close the file; later calls do nothing."""
        with self._lock:
            fd, self._fd = self._fd, None
            self._opened = True  # a closed sink never opens
            if fd is None:
                return
            try:
                _write_all(fd, self._backlog)
                self._backlog = b""
                if os.getpid() == self._owner:
                    _write_all(fd, b"]\n")
            finally:
                os.close(fd)

    def __repr__(self):
        return "<PerfettoSink %s>" % self.path

    def _append(self, data):
        written = 0
        try:
            while written < len(data):
                written += _write_some(self._fd, data[written:])
        except OSError:
            if not written:
                raise  # nothing reached the file: the tracer retries the whole batch
            self._backlog = data[written:]

    def _write_backlog(self):
        while self._backlog:
            self._backlog = self._backlog[_write_some(self._fd, self._backlog):]

    def _others_wrote(self):
        """Before our first event: has a forked relative already put one in the file?"""
        try:
            return os.fstat(self._fd).st_size > len(_HEADER)
        except OSError:
            return False

    def _events(self, rec, procs, tracks):
        """The trace events of one record, metadata first for a new process or track."""
        pid, event, ts = rec["pid"], rec["event"], rec["mono_ns"] / 1000
        if event == "switch":  # a notice for pairing durations, not shown (as in text lines)
            return
        if pid not in self._procs and pid not in procs:
            procs.add(pid)
            yield {"ph": "M", "name": "process_name", "pid": pid, "ts": ts,
                   "args": {"name": "python (pid %d)" % pid}}
        if event == "lost":
            tid, sort, label = LOST_TRACK_BASE + rec["tid"], 0, "thread %d" % rec["tid"]
        else:
            tid = sort = rec["greenlet"]
            label = "greenlet %d (thread %d)" % (tid, rec["tid"])
        if (pid, tid) not in self._tracks and (pid, tid) not in tracks:
            tracks.add((pid, tid))
            yield {"ph": "M", "name": "thread_name", "pid": pid, "tid": tid, "ts": ts,
                   "args": {"name": label}}
            yield {"ph": "M", "name": "thread_sort_index", "pid": pid, "tid": tid, "ts": ts,
                   "args": {"sort_index": sort}}
        if event == "lost":
            yield {"ph": "i", "s": "t", "name": "lost %d records" % rec["count"],
                   "cat": "infi_tracing", "ts": ts, "pid": pid, "tid": tid,
                   "args": {"count": rec["count"]}}
            return
        if event == "omitted":  # slow-call retention left these children out
            yield {"ph": "i", "s": "t", "name": "omitted %d calls" % rec["omitted_calls"],
                   "cat": "infi_tracing", "ts": ts, "pid": pid, "tid": tid,
                   "args": {key: rec[key] for key in ("omitted_calls", "omitted_ns",
                                                      "omitted_active_ns")}}
            return
        if event == "log":
            yield {"ph": "i", "s": "t", "name": "%s %s" % (rec["level"], rec["logger"]),
                   "cat": "log", "ts": ts, "pid": pid, "tid": tid,
                   "args": {"message": rec["message"]}}
            return
        module, qualname = rec["module"], rec["qualname"]
        out = {"ph": "B" if event in _BEGIN else "E",
               "name": "%s.%s" % (module, qualname) if module else qualname,
               "cat": "python", "ts": ts, "pid": pid, "tid": tid}
        args = dict(rec.get("args") or {})
        for key in ("retval", "exception"):
            if key in rec:
                args[key] = rec[key]
        if args:
            out["args"] = args
        yield out


def _write_some(fd, data):
    written = os.write(fd, data)
    if written <= 0:
        raise OSError(errno.EIO, "infi_tracing: the Perfetto trace file took no data")
    return written


def _write_all(fd, data):
    while data:
        data = data[_write_some(fd, data):]


def _lock(fd):
    """Take the file's POSIX record lock; False where the file system has none."""
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX)
        return True
    except OSError:
        return False


def _unlock(fd):
    try:
        fcntl.lockf(fd, fcntl.LOCK_UN)
    except OSError:
        pass
