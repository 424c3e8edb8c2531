"""Opening trace files for the file sinks (text, binary, Perfetto) and the
stats file: never blocking, private (0600), close-on-exec, and never through
a symbolic link someone else planted at the path."""

import errno
import os
import stat

__all__ = ["FILE_MODE", "trace_file_path", "open_trace_file", "open_for_append"]


def trace_file_path(path):
    """`path` as a str, checked without touching the file system (a sink
    built from a spec opens its file only once every spec is valid)."""
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError("path must be a str or os.PathLike, got %r" % (path,))
    return os.fsdecode(path)


FILE_MODE = 0o600  # trace files hold arguments and return values: the owner's only


def open_trace_file(path, flags, what="trace file", follow_symlinks=False):
    """(path as str, fd): `path` opened with `flags` (created if need be,
    mode 0600, close-on-exec) without ever waiting: a FIFO that no process
    reads is refused at once instead of blocking the open forever.

    A symbolic link at `path` is followed only when `follow_symlinks` is true
    or the link belongs to this user or to root (``/dev/stdout``): a link
    another user planted in a shared directory such as /tmp would send the
    trace, or the truncation of a file, wherever its owner chose.  OSError
    names the path, `what` it is, and why."""
    path = trace_file_path(path)
    base = flags | os.O_CREAT | os.O_CLOEXEC | os.O_NONBLOCK
    try:
        try:
            fd = os.open(path, base | (0 if follow_symlinks else os.O_NOFOLLOW), FILE_MODE)
        except OSError as exc:
            if exc.errno != errno.ELOOP or not _trusted_link(path):
                raise
            fd = os.open(path, base, FILE_MODE)
    except OSError as exc:
        reason = exc.strerror
        if exc.errno == errno.ENXIO and _is_fifo(path):
            reason = "it is a FIFO and no process has it open for reading (start the reader first)"
        elif exc.errno == errno.ELOOP and _link_owner(path) is not None:
            reason = ("it is a symbolic link owned by uid %d, another user: not followed (a link "
                      "planted at a trace path would redirect the trace; remove it, or allow "
                      "it with the sink option follow_symlinks=yes)" % _link_owner(path))
        raise OSError(exc.errno, "infi_tracing: cannot open the %s (path=%r): %s"
                      % (what, path, reason), path) from None
    # Only the open must not wait: the drain's writes to a FIFO wait for a slow
    # reader, as they wait for a slow disk, instead of failing with EAGAIN.
    os.set_blocking(fd, True)
    return path, fd


def _link_owner(path):
    """The uid owning the symbolic link at `path`, None if it is no link."""
    try:
        info = os.lstat(path)
    except OSError:
        return None
    return info.st_uid if stat.S_ISLNK(info.st_mode) else None


def _trusted_link(path):
    """A link of this user's or root's: the user made it, or the system did."""
    return _link_owner(path) in (0, os.geteuid())


def _is_fifo(path):
    try:
        return stat.S_ISFIFO(os.stat(path).st_mode)
    except OSError:
        return False


def open_for_append(path, flags=os.O_WRONLY, what="trace file", follow_symlinks=False):
    """(path as str, fd) of a trace file opened for appending (see open_trace_file)."""
    return open_trace_file(path, flags | os.O_APPEND, what, follow_symlinks)
