"""TraceLogHandler: what the program logs, in the trace, where it logged it."""

import logging

from infi_tracing.native import _core

__all__ = ["TraceLogHandler"]


class TraceLogHandler(logging.Handler):
    """A logging handler that puts records into the trace stream.

    Each log record becomes a ``log`` record in the same per-thread ring as
    the calls, with the thread, greenlet and depth of the code that logged,
    and reaches every configured sink (text: ``# LEVEL logger: message``).
    Nothing is recorded while tracing is off or inside an exclusion.
    """

    def emit(self, record):
        try:
            message = self.format(record)
        except Exception:  # logging's own convention
            self.handleError(record)
            return
        _core.log_record(record.levelname, record.name, message)
