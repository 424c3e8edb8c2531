"""Native text sinks: stdout, stderr and files, as text lines or JSON lines."""

import os

from infi_tracing._format import format_jsonl, format_text
from infi_tracing.native._core import SinkHandle
from infi_tracing.sinks.files import open_for_append, trace_file_path

__all__ = ["FdSink", "StdoutSink", "StderrSink", "FileSink", "FORMATS", "open_for_append"]

FORMATS = ("text", "jsonl")


def _check_format(format):
    if format not in FORMATS:
        raise ValueError("format must be one of %s, got %r" % (", ".join(map(repr, FORMATS)), format))
    return format


class FdSink:
    """Records written to a file descriptor by the drain thread, natively."""

    def __init__(self, fd, format="text", owns_fd=False, name=None, values=True):
        self.format = _check_format(format)
        self.fd = fd
        self.values = bool(values)
        self.name = name or "fd:%d" % fd
        self.handle = SinkHandle.fd(fd, self.format, owns_fd, self.name, self.values)

    def write(self, batch):
        """Write decoded records from Python (the drain uses the handle)."""
        render = format_jsonl if self.format == "jsonl" else format_text
        if not self.values:
            batch = [{k: v for k, v in rec.items() if k not in ("args", "retval")}
                     for rec in batch]
        data = "".join(render(rec) for rec in batch).encode("utf-8", "backslashreplace")
        while data:
            data = data[os.write(self.fd, data):]

    def flush(self):
        """Nothing is buffered on the Python side."""

    def close(self):
        """The descriptor is closed when the handle is released (owned ones only)."""

    def __repr__(self):
        return "<%s %s format=%s>" % (type(self).__name__, self.name, self.format)


class StdoutSink(FdSink):
    """Records to file descriptor 1 (follows dup2 redirections of it)."""

    def __init__(self, format="text", values=True):
        super().__init__(1, format, owns_fd=False, name="stdout", values=values)


class StderrSink(FdSink):
    """Records to file descriptor 2."""

    def __init__(self, format="text", values=True):
        super().__init__(2, format, owns_fd=False, name="stderr", values=values)


class FileSink(FdSink):
    """Records appended to a file, opened now, or with ``open_now=False`` by
    open() (which configuring the sink calls), so that building the sink
    touches no file."""

    def __init__(self, path, format="text", values=True, open_now=True, follow_symlinks=False):
        self.format = _check_format(format)
        self.follow_symlinks = follow_symlinks  # see sinks.files.open_trace_file
        self.values = bool(values)
        self.path = trace_file_path(path)
        self.name = "file:%s" % self.path
        self.fd = None
        if open_now:
            self.open()

    def open(self):
        """Open the file for appending (OSError names it); once."""
        if self.fd is None:
            self.path, fd = open_for_append(self.path, follow_symlinks=self.follow_symlinks)
            super().__init__(fd, self.format, owns_fd=True, name=self.name, values=self.values)
