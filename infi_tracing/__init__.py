"""infi_tracing: low-overhead, greenlet-aware tracing of Python function calls.

``set_tracing()`` starts recording every call and return (or the part a
filter selects) of every thread; records stream to stdout, stderr or a file
through a native drain thread.  See README.md.

Importing the package loads none of the tracer: each public name comes from
its module on first use (PEP 562), so the trace reader and the analysis
commands (``infi_tracing.analysis``, ``python -m infi_tracing report``)
never load the native tracer, and a trace is read where nothing is traced.
"""

from infi_tracing._lazy import lazy_exports

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
]

# Where each public name lives.
_EXPORTS = {
    "BACKENDS": "infi_tracing._api",
    "DEFAULT_BUFFER_SIZE": "infi_tracing._api",
    "TracingFilterWarning": "infi_tracing._api",
    "configure_sinks": "infi_tracing._api",
    "flush_tracing": "infi_tracing._api",
    "last_tracing_arguments": "infi_tracing._api",
    "set_sinks": "infi_tracing._api",
    "set_tracing": "infi_tracing._api",
    "tracing_output_to_file": "infi_tracing._api",
    "tracing_output_to_stderr": "infi_tracing._api",
    "tracing_output_to_stdout": "infi_tracing._api",
    "tracing_output_to_syslog": "infi_tracing._api",
    "tracing_stats": "infi_tracing._api",
    "unset_tracing": "infi_tracing._api",
    "start_tracing_from_environment": "infi_tracing._autostart",
    "SinkSpec": "infi_tracing._config",
    "exclude_from_traces_context": "infi_tracing._exclusion",
    "exclude_from_traces_recursive": "infi_tracing._exclusion",
    "no_tracing_context_recursive": "infi_tracing._exclusion",
    "no_tracing_recursive": "infi_tracing._exclusion",
    "resume_tracing": "infi_tracing._exclusion",
    "suspend_tracing": "infi_tracing._exclusion",
    "filter_from_globs": "infi_tracing._globs",
    "NO_TRACE": "infi_tracing._levels",
    "NO_TRACE_NESTED": "infi_tracing._levels",
    "TRACE_FUNC_NAME": "infi_tracing._levels",
    "TRACE_FUNC_PRIMITIVES": "infi_tracing._levels",
    "TRACE_FUNC_REPR": "infi_tracing._levels",
    "TraceLevel": "infi_tracing._levels",
    "TraceLogHandler": "infi_tracing._logging",
    "install_signal_handlers": "infi_tracing._signals",
    "record_stats": "infi_tracing._signals",
    "toggle_tracing": "infi_tracing._signals",
    "format_stats": "infi_tracing._summary",
}


__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS)
