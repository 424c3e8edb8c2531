"""The crash-survival file of the flight recorder (``--flight-recorder-file``).

The rings, the recorder's blocks and the code registry live in a shared
mapping of one file per process (native side: it_flight_file.h), so what a
process committed before a SIGKILL, an OOM kill or a segfault is still in
the file; ``python -m infi_tracing recover PATH -o out.itr`` turns it into
a binary trace (infi_tracing.analysis._recover).  ``{pid}`` in the path is
the process id (a forked child gets its own file).  The file is removed at
a clean exit unless kept, and left where the process died otherwise.
"""

import atexit
import fcntl
import os

from infi_tracing.native import _core
from infi_tracing.sinks.files import open_trace_file

__all__ = ["FILE_VARIABLE", "KEEP_VARIABLE", "open_file", "path_in_use"]

FILE_VARIABLE = "INFI_TRACING_FLIGHT_RECORDER_FILE"
KEEP_VARIABLE = "INFI_TRACING_FLIGHT_RECORDER_FILE_KEEP"
PID_FIELD = "{pid}"

_template = None   # the template in use (one file per process, for its life)
_path = None       # this process's file
_keep = False
_owner = None      # the pid that made _path (a forked child makes its own)


def path_in_use():
    """This process's crash-survival file, or None."""
    return _path


def _open(template):
    """(path, fd) of this process's file: created 0600 (sinks/files.py's
    rule for links), emptied, and locked so that recover can tell a live
    writer (and two processes cannot share one file)."""
    path, fd = open_trace_file(template.replace(PID_FIELD, str(os.getpid())), os.O_RDWR,
                               what="flight-recorder file")
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise OSError("infi_tracing: the flight-recorder file (path=%r) is in use by another "
                      "process (put {pid} in the path)" % (path,)) from None
    os.ftruncate(fd, 0)
    return path, fd


def open_file(template, ring_bytes, size, keep):
    """Make `template` this process's crash-survival file, sized for rings
    of `ring_bytes` and a recorder of `size` bytes.  Once open it stays for
    the process's life (rings live in it): another template is refused.
    OSError naming the path when it cannot be created or sized (ENOSPC)."""
    global _template, _path, _keep, _owner
    if _template is not None:
        if template != _template:
            raise ValueError("flight_recorder: file is %r for this process's life; cannot "
                             "change it to %r" % (_template, template))
        _keep = keep
        return
    path, fd = _open(template)
    try:
        _core.flight_file_open(fd, ring_bytes, size, _reopen_in_child)
    except OSError as exc:
        os.close(fd)
        _unlink(path)
        raise OSError(exc.errno, "infi_tracing: cannot size the flight-recorder file (path=%r) "
                      "for a %d-byte recorder and %d-byte rings: %s"
                      % (path, size, ring_bytes, exc.strerror), path) from None
    _template, _path, _keep, _owner = template, path, keep, os.getpid()
    atexit.register(_at_exit)


def _reopen_in_child():
    """A forked child's own file (called by the native at-fork hook): its fd."""
    global _path, _owner
    path, fd = _open(_template)
    _path, _owner = path, os.getpid()
    return fd


def _unlink(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def _at_exit():
    """A clean exit: nothing to recover, the file goes (unless kept)."""
    if _path is not None and not _keep and _owner == os.getpid():
        _unlink(_path)
