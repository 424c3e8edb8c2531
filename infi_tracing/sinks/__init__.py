"""Built-in sinks: where records go.

A sink is a small object with ``write(batch)``, ``flush()`` and ``close()``;
``batch`` is a list of decoded records (dicts, see ``infi_tracing._format``).
Native sinks also carry a ``handle`` the drain thread writes through
without the GIL; Python sinks are called by the drain with a batch at a time.
"""

from infi_tracing._lazy import lazy_exports

__all__ = ["StdoutSink", "StderrSink", "FileSink", "original"]

# Imported on first use: infi_tracing.sinks.perfetto, which decode's Perfetto
# JSON output uses, must not load the native tracer (infi_tracing._lazy).
__getattr__, __dir__ = lazy_exports(globals(), {
    "StdoutSink": "infi_tracing.sinks.stream",
    "StderrSink": "infi_tracing.sinks.stream",
    "FileSink": "infi_tracing.sinks.stream",
    "original": "infi_tracing.sinks.unpatched",
})
