# The crash-survival file's native side (included into _core.pyx): opening
# it, its counters, and its fork handling.  The file is it_flight_file.h;
# infi_tracing._flight_file opens the path (sinks/files.py's rule) and
# hands the fd over; recover (infi_tracing.analysis._recover) reads it.

from infi_tracing.native.includes.it_flight_file cimport it_ff_cur
from infi_tracing.native.includes.it_flight_file_fork cimport (
    it_ff_child_detach, it_ff_child_attach)
from infi_tracing.native.includes.it_flight cimport it_flight_file_open

_ff_reopen = None   # infi_tracing._flight_file's: opens the child's file, returns an fd or None


def flight_file_open(int fd, uint64_t ring_bytes, uint64_t size, reopen):
    """Make `fd` (created 0600, empty) the process's crash-survival file for
    rings of `ring_bytes` and a recorder of `size` bytes: it is sized up
    front and mapped shared.  `reopen()` gives a forked child's fd.  OSError
    (errno) when the file cannot take it; the fd is then the caller's."""
    global _ff_reopen
    cdef int rc
    if it_ff_cur != NULL:
        raise RuntimeError("infi_tracing: the crash-survival file is already open")
    rc = it_flight_file_open(fd, ring_bytes, size)
    if rc:
        raise OSError(rc, _os.strerror(rc))
    _ff_reopen = reopen


def flight_file_stats():
    """The file's geometry and counters, or None when none is open."""
    if it_ff_cur == NULL:
        return None
    return {"bytes": it_ff_cur.size, "threads": it_ff_cur.h.nslots,
            "blocks": it_ff_cur.h.nblocks, "rings_outside": it_ff_cur.h.rings_outside,
            "codes_outside": it_ff_cur.h.codes_outside}


cdef void _flight_file_detach_in_child():
    """First thing in a forked child: the parent's file is left alone."""
    it_ff_child_detach()


cdef void _flight_file_reopen_in_child():
    """A forked child's own file ({pid}), before its drain starts; on
    failure the child keeps working in anonymous memory (said on stderr)."""
    cdef int fd, rc
    if it_ff_cur == NULL or _ff_reopen is None:
        return
    try:
        fd = call_untraced(_ff_reopen)
    except OSError as exc:
        _sys.stderr.write("infi_tracing: %s; this process's records will not survive it\n"
                          % (exc,))
        return
    rc = it_ff_child_attach(fd)
    if rc:
        _os.close(fd)
        _sys.stderr.write("infi_tracing: cannot map the crash-survival file: %s; this "
                          "process's records will not survive it\n" % _os.strerror(rc))
