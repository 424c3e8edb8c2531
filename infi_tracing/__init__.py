"""infi_tracing: low-overhead, greenlet-aware tracing of Python function calls.

``set_tracing()`` starts recording every call and return (or the part a
filter selects) of every thread; records stream to stdout, stderr or a file
through a native drain thread.  See README.md.
"""

from infi_tracing._api import (
    BACKENDS,
    DEFAULT_BUFFER_SIZE,
    TracingFilterWarning,
    configure_sinks,
    flush_tracing,
    last_tracing_arguments,
    set_sinks,
    set_tracing,
    tracing_output_to_file,
    tracing_output_to_stderr,
    tracing_output_to_stdout,
    tracing_output_to_syslog,
    tracing_stats,
    unset_tracing,
)
from infi_tracing._autostart import start_tracing_from_environment
from infi_tracing._config import SinkSpec
from infi_tracing._exclusion import (
    exclude_from_traces_context,
    exclude_from_traces_recursive,
    no_tracing_context_recursive,
    no_tracing_recursive,
    resume_tracing,
    suspend_tracing,
)
from infi_tracing._flight import FlightRecorder, dump_flight_recorder, flight_recorder_stats
from infi_tracing._globs import filter_from_globs
from infi_tracing._levels import (
    NO_TRACE,
    NO_TRACE_NESTED,
    TRACE_FUNC_NAME,
    TRACE_FUNC_PRIMITIVES,
    TRACE_FUNC_REPR,
    TraceLevel,
)
from infi_tracing._logging import TraceLogHandler
from infi_tracing._signals import install_signal_handlers, record_stats, toggle_tracing
from infi_tracing._summary import format_stats

__all__ = [
    "set_tracing", "unset_tracing", "suspend_tracing", "resume_tracing",
    "exclude_from_traces_context", "exclude_from_traces_recursive",
    "no_tracing_context_recursive", "no_tracing_recursive",
    "NO_TRACE", "NO_TRACE_NESTED", "TRACE_FUNC_NAME", "TRACE_FUNC_PRIMITIVES", "TRACE_FUNC_REPR",
    "TraceLevel", "tracing_output_to_stdout", "tracing_output_to_stderr",
    "tracing_output_to_file", "tracing_output_to_syslog", "configure_sinks", "SinkSpec",
    "set_sinks", "tracing_stats", "flush_tracing",
    "TracingFilterWarning", "BACKENDS", "DEFAULT_BUFFER_SIZE", "TraceLogHandler",
    "install_signal_handlers", "toggle_tracing", "record_stats", "last_tracing_arguments",
    "filter_from_globs", "start_tracing_from_environment", "format_stats",
    "FlightRecorder", "dump_flight_recorder", "flight_recorder_stats",
]
