"""Binary trace file sink: the compact, lossless, fastest way out.

Decode with ``python -m infi_tracing decode FILE [--format text|jsonl|perfetto]``.
"""

import os

from infi_tracing.native._core import SinkHandle
from infi_tracing.sinks.files import open_for_append, trace_file_path

__all__ = ["BinaryFileSink", "MAGIC", "TraceFileError", "check_trace_file"]

MAGIC = b"INFITRC1"  # native/it_binary.h's IT_BIN_MAGIC


class TraceFileError(ValueError):
    """A file to append to is not a binary trace."""


def check_trace_file(path):
    """Raise TraceFileError unless `path` starts like a binary trace file."""
    with open(path, "rb") as f:
        head = f.read(len(MAGIC))
    if head != MAGIC:
        raise TraceFileError("%s is not an infi_tracing binary trace (it starts with %r, "
                             "expected %r)" % (path, head, MAGIC))


class BinaryFileSink:
    """Records appended to a binary trace file, written natively; opened now,
    or with ``open_now=False`` by open() (which configuring the sink calls)."""

    def __init__(self, path, open_now=True):
        self.path, self.handle = trace_file_path(path), None  # the handle comes with open()
        self.name = "binary:%s" % self.path
        if open_now:
            self.open()

    def open(self):
        """Open the file for appending, writing the magic into an empty one
        (OSError, or TraceFileError for a foreign file); once."""
        if self.handle is not None:
            return
        self.path, fd = open_for_append(self.path)
        try:
            if os.fstat(fd).st_size == 0:
                os.write(fd, MAGIC)
            else:
                check_trace_file(self.path)
        except BaseException:
            os.close(fd)
            raise
        self.handle = SinkHandle.binary(fd, self.name)

    def write(self, batch):
        """Records are written by the drain thread through the handle."""
        raise TypeError("BinaryFileSink is written natively by the drain thread")

    def flush(self):
        """The drain writes its buffer out on every flush."""

    def close(self):
        """The file is closed when the handle is released."""

    def __repr__(self):
        return "<BinaryFileSink %s>" % self.path
