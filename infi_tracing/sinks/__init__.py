"""Built-in sinks: where records go.

A sink is a small object with ``write(batch)``, ``flush()`` and ``close()``;
``batch`` is a list of decoded records (dicts, see ``infi_tracing._format``).
Native sinks also carry a ``handle`` the drain thread writes through
without the GIL; Python sinks are called by the drain with a batch at a time.
"""

from infi_tracing.sinks.stream import FileSink, StderrSink, StdoutSink
from infi_tracing.sinks.unpatched import original

__all__ = ["StdoutSink", "StderrSink", "FileSink", "original"]
