"""The public face: start and stop tracing, choose outputs, read counters."""

import atexit
import os
import threading

from infi_tracing import _config, _exec, _flight, _flight_triggers, _levels, _mp_exit, _retention
from infi_tracing._options import (
    BACKENDS,
    DEFAULT_BUFFER_SIZE,
    DEFAULT_REDACT,
    OVERFLOW_MODES,
    check_backend_available,
    check_buffer_size_range,
    check_redaction,
)
from infi_tracing.native import _core
from infi_tracing.sinks.stream import FileSink, StderrSink, StdoutSink
from infi_tracing.sinks.syslog import SyslogSink

__all__ = ["set_tracing", "unset_tracing", "tracing_output_to_stdout",
           "tracing_output_to_stderr", "tracing_output_to_file", "tracing_output_to_syslog",
           "configure_sinks", "set_sinks",
           "tracing_stats", "flush_tracing", "TracingFilterWarning", "BACKENDS",
           "DEFAULT_BUFFER_SIZE", "DEFAULT_REDACT", "last_tracing_arguments"]

TracingFilterWarning = _core.TracingFilterWarning

_sinks = []
_sink_handles = []  # of _sinks; the flight recorder's handle goes after them
_last_arguments = {}  # of the last set_tracing(), for last_tracing_arguments()
_default_retention = [None]  # set_tracing()'s slow-call retention for sinks without their own
# One configuration change at a time.  set_tracing() and unset_tracing() wait
# for the drain with the GIL released, so without it a second thread could
# start tracing in the middle of a first one's restart: two backends (two
# sys.monitoring tool ids) installed, one of them never removed.  Re-entrant:
# set_tracing() calls set_sinks(), and a Python sink's flush() may reconfigure.
_control = threading.RLock()
_SHUTDOWN_WAIT = 10.0  # seconds exit waits for another thread's reconfiguration


def _check_level(level):
    if isinstance(level, bool) or not isinstance(level, int) or \
            not _levels.NO_TRACE <= level <= _levels.TRACE_FUNC_REPR:
        raise ValueError("level must be a trace level (NO_TRACE .. TRACE_FUNC_REPR), got %r"
                         % (level,))
    return int(level)


def _check_backend(backend):
    if backend not in BACKENDS:
        raise ValueError("backend must be one of %s, got %r" % (", ".join(map(repr, BACKENDS)),
                                                               backend))
    _core.set_backend_note("")
    if backend != "auto":
        return check_backend_available(backend)
    available = _core.available_backends()
    if available[0] == "evalframe" and _core.evalframe_taken():
        _core.set_backend_note("evalframe: another tool's eval-frame function is installed; "
                               "using profile")
        return "profile"
    return available[0]


def _check_buffer_size(buffer_size):
    if isinstance(buffer_size, bool) or not isinstance(buffer_size, int):
        raise ValueError("buffer_size must be an int (bytes per thread), got %r" % (buffer_size,))
    check_buffer_size_range(buffer_size)
    return 1 << (buffer_size - 1).bit_length()  # rings are a power of two


def set_tracing(filter=None, *, level=_levels.TRACE_FUNC_NAME, backend="auto",
                overflow="drop", buffer_size=DEFAULT_BUFFER_SIZE, generators=True,
                redact=None, redact_values=None, flight_recorder=None, min_duration=None,
                keep_slow=None):
    """Start tracing every thread, existing and future.

    ``filter(frame)`` is called once per code object, with the frame of its
    first call, and returns a trace level, True (``level``) or False
    (NO_TRACE); its answer is cached.  ``overflow="drop"`` never blocks the
    program (drops are counted and reported in the stream); ``"block"`` is
    lossless.  ``buffer_size`` is each thread's ring in bytes (rounded up to
    a power of two).  Generator and coroutine re-entries and suspensions
    are resume/yield records, so a call is recorded (and counted) once
    however often it awaits; ``generators=False`` records them as
    call/return pairs instead (each re-entry then also counts as a call).
    Calling it again while tracing restarts with the new settings.  While
    tracing, ``os.execv``/``os.execve`` (so every ``os.exec*``) flush first.

    At TRACE_FUNC_PRIMITIVES and TRACE_FUNC_REPR, values named like secrets
    are recorded as ``'<redacted>'`` (see the README's Security section):
    arguments, dict values by their key, return values of functions such as
    ``get_token``.  ``redact`` adds names (a word, e.g. ``"ssn"``) or globs
    (``"*_pin"``) to the default list (``DEFAULT_REDACT``), or is ``"none"``
    to redact no name; ``redact_values`` is a POSIX extended regex or a list
    of them, a value matching one is redacted whole.

    ``flight_recorder`` (a spec such as ``"30s,64M"``, a FlightRecorder, or
    True for the defaults) keeps the recent past in memory for
    dump_flight_recorder(); with no sink configured, records then go only
    there (see README, "Always-on in production").
    """
    _core._refuse_in_sink("set_tracing")  # before the lock: a sink runs while it is held
    with _control:
        _set_tracing(filter, level, backend, overflow, buffer_size, generators, redact,
                     redact_values, flight_recorder, min_duration, keep_slow)


def _set_tracing(filter, level, backend, overflow, buffer_size, generators, redact,
                 redact_values, flight_recorder, min_duration=None, keep_slow=None):
    if filter is not None and not callable(filter):
        raise ValueError("filter must be a callable taking a frame, got %r" % (filter,))
    level = _check_level(level)
    chosen = _check_backend(backend)
    if overflow not in OVERFLOW_MODES:
        raise ValueError("overflow must be 'drop' or 'block', got %r" % (overflow,))
    ring = _check_buffer_size(buffer_size)
    redaction = check_redaction(redact, redact_values)
    recorder = _flight.check_flight_recorder(flight_recorder)
    # untraced: tracing may be on (a restart), and these are not the program's calls
    retention = (_core.call_untraced(_retention.parse_retention, min_duration, keep_slow)
                 if min_duration is not None or keep_slow is not None
                 else _core.call_untraced(_retention.from_environment))
    if _core.backend_in_use() is not None:
        _core.stop("set_tracing")
    _core.set_redaction(*redaction)  # between sessions: no decision made under the old one stays
    if _flight.use(recorder, ring):
        _apply_handles()
        _flight_triggers.install(recorder)
    if not _sinks and recorder is None:
        from_environment = _config.specs_from_environment()
        set_sinks(_config.sinks_from_specs(from_environment) if from_environment
                  else [StderrSink()])
    _apply_default_retention(retention)
    _exec.flush_before_exec()
    _core.start(filter, level, chosen, overflow == "block", ring, bool(generators))
    remember_arguments(dict(filter=filter, level=level, backend=backend, overflow=overflow,
                            buffer_size=buffer_size, generators=bool(generators),
                            redact=redact, redact_values=redact_values,
                            flight_recorder=recorder, min_duration=min_duration,
                            keep_slow=keep_slow))


def last_tracing_arguments():
    """The keyword arguments of the last successful set_tracing() call (a new
    dict; empty before the first), e.g. to start again with the same settings."""
    return dict(_last_arguments)


def unset_tracing():
    """Stop tracing every thread; every record made so far reaches the sinks.

    RuntimeError when called from inside a sink (see flush_tracing()).
    """
    _core._refuse_in_sink("unset_tracing")
    with _control:
        if _core.backend_in_use() is not None:
            _core.stop()


def flush_tracing():
    """Deliver every record made so far to every sink, then return.

    A sink's write() or flush() calling it (or unset_tracing(), tracing_stats(),
    set_sinks()) gets RuntimeError, counted as that sink's error: the drain
    thread running the sink would wait for itself.  A signal handler (Ctrl-C)
    can interrupt the wait.
    """
    _core._refuse_in_sink("flush_tracing")
    with _control:
        _core.flush()


def _apply_default_retention(retention):
    """set_tracing()'s retention for every current sink without its own."""
    _default_retention[0] = retention
    if retention is not None and _sinks:
        set_sinks(list(_sinks))


def set_sinks(sinks):
    """Send records to these sinks from now on (replacing earlier ones): sink
    objects, URL strings or dicts, as configure_sinks() takes them, mixed.

    Records made before the change still go to the earlier sinks.
    """
    sinks = _config.sink_objects(sinks)
    handles = [getattr(s, "handle", None) or _core.SinkHandle.python(s, repr(s))
               for s in sinks]
    for sink, handle in zip(sinks, handles, strict=True):
        _retention.apply_to_handle(handle, getattr(sink, "retention", None) or _default_retention[0])
    _core._refuse_in_sink("set_sinks")
    with _control:
        _core.flush("set_sinks")
        _sink_handles[:] = handles
        _core.set_sinks(handles + _flight.handles())
        old, _sinks[:] = list(_sinks), sinks
    for sink in old:
        if not any(sink is s for s in sinks):
            try:
                _core.call_untraced(sink.close)
            except Exception:  # a sink's close must not break reconfiguration
                pass


def _apply_handles():
    """The sinks' handles and the flight recorder's (it changed) to the drain."""
    _core.flush("set_tracing")
    _core.set_sinks(_sink_handles + _flight.handles())


def tracing_output_to_stdout(format="text"):
    """Write records to standard output (``format``: "text" or "jsonl")."""
    set_sinks([StdoutSink(format)])


def tracing_output_to_stderr(format="text"):
    """Write records to standard error (``format``: "text" or "jsonl")."""
    set_sinks([StderrSink(format)])


def tracing_output_to_file(path, format="text"):
    """Append records to the file at ``path``, opened now (OSError if it cannot be)."""
    set_sinks([FileSink(path, format)])


def tracing_output_to_syslog(facility="user", address=None, host_name=None,
                             application_name=None, process_id=None, rfc5424=True, **options):
    """Send records to syslog (the seed's signature; more options as keywords).

    ``address``: None for the local syslog socket (/dev/log), a path for a
    unix socket, ``(host, port)`` for TCP (``transport="udp"`` for UDP).
    Other keywords: transport, severity, framing ("octet" or "lf"), msgid,
    max_datagram, spool_size, flush_timeout, values -- see SyslogSink.
    """
    set_sinks([SyslogSink(address, facility=facility, hostname=host_name,
                          app_name=application_name, procid=process_id, rfc5424=rfc5424,
                          **options)])


def configure_sinks(specs=None):
    """Configure several sinks at once from URLs or dicts, e.g.
    ``["stderr", "file:///var/log/app.trace?format=jsonl",
    "syslog+tcp://127.0.0.1:6514?facility=local0"]`` (sink objects may be
    in the list too, as set_sinks() takes them).

    Without ``specs`` the list comes from the INFI_TRACING_SINKS environment
    variable (a JSON list, or URLs separated by spaces or ';').  Every bad
    spec raises ValueError naming the offending part; nothing changes then.
    """
    if specs is None:
        specs = _config.specs_from_environment()
        if specs is None:
            raise ValueError("configure_sinks() needs sink specs, or %s in the environment"
                             % _config.ENVIRONMENT_VARIABLE)
    set_sinks(_config.sinks_from_specs(specs))


def tracing_stats():
    """Counters: records and drops per thread and sink, code objects, filter calls.

    Delivers what is pending first, so the counters agree with the sinks.  Per
    sink, ``records`` (written) + ``lost`` (given up on) + ``pending`` (held
    for a retry, or by slow-call retention for a call still open) +
    ``omitted`` (left out by slow-call retention; only such sinks have it)
    is every record handed to it; ``error`` names why records were last
    given up (a native file sink), or is None.
    """
    _core._refuse_in_sink("tracing_stats")
    with _control:
        _core.flush("tracing_stats")
        return stats_without_flush()


def stats_without_flush():
    """tracing_stats() without delivering what is pending first (a signal
    handler must not wait for a sink: an unreachable syslog server may hold
    a flush for seconds)."""
    stats = _core.stats()
    exited = stats["exited_threads"]
    stats["records"] = sum(t["records"] for t in stats["threads"]) + exited["records"]
    stats["lost"] = (sum(t["lost"] for t in stats["threads"]) + exited["lost"]
                     + stats["undelivered_at_exit"])
    return stats


def current_sinks():
    """The sink objects records go to now (a new list)."""
    return list(_sinks)


def remember_arguments(arguments):
    """Make `arguments` (set_tracing() keywords) the last ones, without
    starting: a paused start's toggle signal starts tracing with them."""
    _last_arguments.clear()
    _last_arguments.update(arguments)


def finish():
    """At exit: stop tracing, deliver every record, stop the drain thread;
    what a sink still holds then (an unreachable syslog server's spool, a
    failing Python sink's retries) is counted lost.  Run's summary calls it
    before reading the counters; calling it again does nothing more."""
    _core.shutdown()


def shutdown():
    """At exit: deliver every record, stop the drain, then close the sinks
    (a Perfetto file gets its closing bracket).  Waits a bounded time for
    another thread's reconfiguration (a daemon thread may be stuck in it),
    and for each sink (a close() that does not return is given up on)."""
    locked = _control.acquire(timeout=_SHUTDOWN_WAIT)
    try:
        finish()
    finally:
        if locked:
            _control.release()
    for sink in list(_sinks):
        _core.close_at_exit(sink)  # bounded; the sink's errors are its own


atexit.register(shutdown)
_mp_exit.install(shutdown)  # forked multiprocessing children skip atexit
# No fork in the middle of a reconfiguration: the child would inherit it
# half done, with the lock held by a thread it does not have.
os.register_at_fork(before=_control.acquire, after_in_parent=_control.release,
                    after_in_child=_control.release)
