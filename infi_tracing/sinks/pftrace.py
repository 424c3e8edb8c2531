"""Perfetto protobuf sink (``perfetto+proto:///path.pftrace``): a Perfetto
``Trace`` written natively by the drain thread (infi_tracing/native/it_pftrace.h).

One track per greenlet, under its thread's track, under its process's; a
slice per call with exact nanosecond times; function names interned; "lost N"
and log records as instants.  Open the file at https://ui.perfetto.dev or with
Perfetto's trace_processor.  The file is truncated when opened and written in
whole packets, so a file cut short by a crash loads as far as it goes.  A
forked child writes a file of its own, ``trace.<pid>.pftrace`` beside
``trace.pftrace`` (as a child started as a fresh interpreter by ``run`` does).
"""

import os

from infi_tracing.native._core import SinkHandle
from infi_tracing.sinks.files import open_trace_file, trace_file_path

__all__ = ["PerfettoProtoSink"]


class PerfettoProtoSink:
    """Records as a Perfetto protobuf trace file, written natively; opened now,
    or with ``open_now=False`` by open() (which configuring the sink calls)."""

    def __init__(self, path, open_now=True, follow_symlinks=False):
        self.path, self.handle = trace_file_path(path), None  # the handle comes with open()
        self.follow_symlinks = follow_symlinks  # see sinks.files.open_trace_file
        self.name = "perfetto+proto:%s" % self.path
        if open_now:
            self.open()

    def open(self):
        """Truncate (or create) the file (OSError names it); once."""
        if self.handle is not None:
            return
        self.path, fd = open_trace_file(self.path, os.O_WRONLY | os.O_TRUNC | os.O_APPEND,
                                        "Perfetto protobuf trace file", self.follow_symlinks)
        self.handle = SinkHandle.pftrace(fd, self.path, self.name)

    def write(self, batch):
        """Records are written by the drain thread through the handle."""
        raise TypeError("PerfettoProtoSink is written natively by the drain thread")

    def flush(self):
        """The drain writes its buffer out on every flush."""

    def close(self):
        """The file is closed when the handle is released."""

    def __repr__(self):
        return "<PerfettoProtoSink %s>" % self.path
