"""Opening trace files for the file sinks (text, binary, Perfetto), never blocking."""

import errno
import os
import stat

__all__ = ["trace_file_path", "open_trace_file", "open_for_append"]


def trace_file_path(path):
    """`path` as a str, checked without touching the file system (a sink
    built from a spec opens its file only once every spec is valid)."""
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError("path must be a str or os.PathLike, got %r" % (path,))
    return os.fsdecode(path)


def open_trace_file(path, flags, what="trace file"):
    """(path as str, fd): `path` opened with `flags` (created if need be,
    close-on-exec) without ever waiting: a FIFO that no process reads is
    refused at once instead of blocking the open forever.  OSError names the
    path and `what` it is."""
    path = trace_file_path(path)
    try:
        fd = os.open(path, flags | os.O_CREAT | os.O_CLOEXEC | os.O_NONBLOCK, 0o644)
    except OSError as exc:
        reason = exc.strerror
        if exc.errno == errno.ENXIO and _is_fifo(path):
            reason = "it is a FIFO and no process has it open for reading (start the reader first)"
        raise OSError(exc.errno, "infi_tracing: cannot open the %s (path=%r): %s"
                      % (what, path, reason), path) from None
    # Only the open must not wait: the drain's writes to a FIFO wait for a slow
    # reader, as they wait for a slow disk, instead of failing with EAGAIN.
    os.set_blocking(fd, True)
    return path, fd


def _is_fifo(path):
    try:
        return stat.S_ISFIFO(os.stat(path).st_mode)
    except OSError:
        return False


def open_for_append(path, flags=os.O_WRONLY):
    """(path as str, fd) of a trace file opened for appending (see open_trace_file)."""
    return open_trace_file(path, flags | os.O_APPEND)
