"""Binary trace file sink: the compact, lossless, fastest way out.

Decode with ``python -m infi_tracing decode FILE [--format text|jsonl|perfetto]``.
"""

import os

from infi_tracing._binary import MAGIC, check_trace_file
from infi_tracing.native._core import SinkHandle

__all__ = ["BinaryFileSink"]


class BinaryFileSink:
    """Records appended to a binary trace file, written natively."""

    def __init__(self, path):
        if not isinstance(path, (str, bytes, os.PathLike)):
            raise TypeError("path must be a str or os.PathLike, got %r" % (path,))
        self.path = os.fsdecode(path)
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise OSError(exc.errno, "infi_tracing: cannot open the trace file (path=%r): %s"
                          % (self.path, exc.strerror), self.path) from None
        try:
            if os.fstat(fd).st_size == 0:
                os.write(fd, MAGIC)
            else:
                check_trace_file(self.path)
        except BaseException:
            os.close(fd)
            raise
        self.name = "binary:%s" % self.path
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
