"""Reading traces: the native reader every command uses, and the analysis
commands built on it.

``Reader(paths, ...)`` reads binary traces (one or several files, "-" for
standard input) with bounded memory, pairs every call with its return
(``duration_ns``, ``active_ns``, ``self_ns`` on exits) and filters by time,
process, thread, greenlet, function globs and depth.  Errors of one file
(damaged, cut short, not a trace) are kept in ``Reader.errors`` with the byte
offset, after everything readable before them was delivered.

``decode(paths, ...)`` and ``replay(paths, ...)`` are the commands of the
same names (text and JSON lines written natively); ``recover(path, output)``
turns a crash-survival file (--flight-recorder-file) into a binary trace.

This package imports the trace formats and its own extension module, never
the tracer: a trace can be read where nothing was ever traced.
"""

from infi_tracing.analysis._decode import decode, replay
from infi_tracing.analysis._diff import diff_command
from infi_tracing.analysis._filters import parse_duration, parse_time
from infi_tracing.analysis._graph import graph_command
from infi_tracing.analysis._greenlets import greenlets_command
from infi_tracing.analysis._reading import Reader
from infi_tracing.analysis._recover import RecoverError, recover, recover_command
from infi_tracing.analysis._report import report_command

__all__ = ["Reader", "decode", "replay", "parse_time", "parse_duration", "report_command",
           "graph_command", "diff_command", "greenlets_command", "recover", "recover_command",
           "RecoverError"]
