"""Reader: the public face of the native reader (analysis/reader.pyx)."""

from infi_tracing.analysis._reader import NativeReader

__all__ = ["Reader"]


class Reader(NativeReader):
    """Reads trace files, several one after another, with bounded memory.

    `paths`: a file or a list of files ("-" is standard input, read once).
    Filters (every record is paired before them, so durations and self times
    do not depend on them):
    `start`/`end`: a wall time (ISO 8601 as text traces show it, UTC unless
    it says otherwise) or a number of seconds into the trace (after its first
    record); `pids`, `tids`, `greenlets`: keep only those (a switch record
    matches by either greenlet, a "lost" record any greenlet);
    `include`/`exclude`: module-name or file-path globs as ``run --include``
    takes them (records without a function pass); `depth`: records at depth
    <= N (0: the outermost calls).

    ``records()`` yields record dicts (with ``duration_ns``, ``active_ns`` and
    ``self_ns`` on exits whose call is known); ``function(i)`` names function
    `i`; ``errors`` lists (path, byte offset, message) of each input that
    could not be read to its end, after its readable records were delivered.
    """

    def __init__(self, paths, *, start=None, end=None, pids=(), tids=(), greenlets=(),
                 include=(), exclude=(), depth=None):
        super().__init__(paths, start, end, pids, tids, greenlets, include, exclude, depth)
