"""Runtime control of a running process by signals (opt-in).

``install_signal_handlers(toggle=SIGUSR2, stats=SIGUSR1)``: the toggle
signal switches tracing off and on again (with the last set_tracing()
arguments, or the INFI_TRACING_* environment's); the stats signal writes
tracing_stats() as an ``infi_tracing.stats`` log record into the trace
stream (while tracing is on) and to the stats file (INFI_TRACING_STATS_FILE
or the stats_file argument), or to stderr when neither can take it;
``dump=SIGNAL`` (off by default) writes a flight-recorder snapshot
(_flight.py).

The handlers are plain ``signal.signal`` handlers: Python runs them in the
main thread between bytecodes, in whichever greenlet is running (an idle
gevent hub wakes up for them at once).  They chain to the
handler installed before them, and never raise into the interrupted code.
"""

import json
import os
import signal

from infi_tracing import _api, _env, _flight, _flight_triggers, _summary
from infi_tracing.native import _core
from infi_tracing.sinks.files import open_for_append
from infi_tracing.sinks.unpatched import original

__all__ = ["install_signal_handlers", "toggle_tracing", "record_stats", "check_stats_file",
           "note"]

_OWN_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
_RETRY_DELAY = 0.05   # seconds before a deferred signal is sent again
_RETRY_MAX = 100      # deferrals of one signal before it is dropped (with a note)
# Our modules whose frames may hold the program's own code (entry points that
# run the whole program, wrappers around user callables): not "busy".
_OUTER = ("_run.py", "_cli.py", "__main__.py", "auto.py", "_exclusion.py", "_logging.py")
_installed = {}       # signum -> (kind, handler, previous handler, stats_file)
_retries = {}         # signum -> deferrals in a row


def note(text):
    """One line to stderr, with os.write: a signal handler may have
    interrupted a write to sys.stderr, which must not be re-entered."""
    data = ("infi_tracing: %s\n" % text).encode("utf-8", "backslashreplace")
    try:
        while data:
            data = data[os.write(2, data):]
    except OSError:
        pass


_note = note


def tracing_active():
    """Whether tracing is on."""
    return _core.backend_in_use() is not None


def toggle_tracing():
    """Switch tracing off when on; on when off, with the last set_tracing()
    arguments (or, before any, the INFI_TRACING_* environment's).
    Returns True when tracing is on afterwards."""
    if tracing_active():
        _core.log_record("INFO", "infi_tracing", "tracing off (pid %d)" % os.getpid())
        _api.unset_tracing()
        return False
    arguments = _api.last_tracing_arguments()
    if not arguments:
        arguments = _env.set_tracing_arguments(_env.tracing_options_from_environment())
    _api.set_tracing(**arguments)
    _core.log_record("INFO", "infi_tracing", "tracing on (pid %d)" % os.getpid())
    return True


def _open_stats_file(path):
    path = path.replace("{pid}", str(os.getpid()))
    return open_for_append(path, what="stats file")[1]


def check_stats_file(path, source):
    """ValueError naming `source` when the stats file cannot be appended to
    (the stats signal would find out only when it comes).  Creates it."""
    try:
        os.close(_open_stats_file(path))
    except OSError as exc:
        raise ValueError("%s: cannot append to %r: %s" % (source, path, exc.strerror)) from None


def _append_line(path, text):
    fd = _open_stats_file(path)
    try:
        data = (text + "\n").encode("utf-8")
        os.write(fd, data)  # one write: lines of several processes do not mix
    finally:
        os.close(fd)


def record_stats(stats_file=None):
    """Write the current tracing_stats() (with pid and time) where an operator
    finds them: as an ``infi_tracing.stats`` log record in the trace stream
    while tracing is on, and appended as one JSON line to `stats_file` (or
    INFI_TRACING_STATS_FILE; ``{pid}`` in the path becomes the pid); to
    stderr when tracing is off and there is no stats file.  Returns the
    snapshot (a dict)."""
    snapshot = _core.call_untraced(lambda: _summary.stats_snapshot(_api.stats_without_flush()))
    path = stats_file or _env.stats_file_from_environment()
    active = tracing_active()
    if active:
        _core.log_record("INFO", _summary.STATS_LOGGER,
                         _core.call_untraced(_summary.compact_snapshot, snapshot))
    if path:
        _core.call_untraced(_append_line, path, json.dumps(snapshot, separators=(",", ":")))
    elif not active:
        _note("stats %s" % json.dumps(snapshot, separators=(",", ":")))
    return snapshot


def _inside_tracer(frame):
    """The signal interrupted the tracer's own Python code (a filter, a sink,
    set_tracing(), a handler of ours...): acting now would re-enter it.  The
    entry points that run the whole program (run, the CLI) and the wrappers
    around the program's own code do not count."""
    codes = {getattr(_api.last_tracing_arguments().get("filter"), "__code__", None)}
    for sink in _api.current_sinks():  # Python sinks are flushed from the program's thread
        for method in ("write", "flush", "close"):
            codes.add(getattr(getattr(type(sink), method, None), "__code__", None))
    depth = 0
    while frame is not None and depth < 200:
        code = frame.f_code
        if code in codes:
            return True
        if code.co_filename.startswith(_OWN_DIR) and \
                os.path.basename(code.co_filename) not in _OUTER:
            return True
        frame = frame.f_back
        depth += 1
    return False


def _defer(signum):
    """Send `signum` again a little later, from a short-lived OS thread.
    False (and nothing sent) when it was deferred _RETRY_MAX times in a row."""
    count = _retries.get(signum, 0) + 1
    _retries[signum] = count
    if count > _RETRY_MAX:
        _retries[signum] = 0
        return False
    sleep = original("time", "sleep")
    pid = os.getpid()

    def resend():
        sleep(_RETRY_DELAY)
        os.kill(pid, signum)

    original("_thread", "start_new_thread")(resend, ())
    return True


def _handle(signum, frame):
    kind, _handler, previous, stats_file = _installed[signum]
    if _inside_tracer(frame):
        if not _defer(signum):  # the previous handler runs when it comes back
            _note("signal %d dropped: the tracer was busy for %.0f s" % (
                signum, _RETRY_MAX * _RETRY_DELAY))
        return
    _retries[signum] = 0
    try:
        if kind == "toggle":
            on = toggle_tracing()
            _note("tracing %s (signal %d, pid %d)" % ("on" if on else "off", signum,
                                                       os.getpid()))
        elif kind == "dump":
            if _flight_triggers.trigger("signal %d" % signum) is None and \
                    _flight.in_use() is None:
                _note("signal %d: no flight recorder is on, nothing to dump" % signum)
        else:
            record_stats(stats_file)
    except Exception as exc:  # never raise into the interrupted code
        _note("%s signal %d failed: %s: %s" % (kind, signum, type(exc).__name__, exc))
    if callable(previous):
        previous(signum, frame)


def _install(kind, signum, stats_file):
    signum = int(signum)
    current = signal.getsignal(signum)
    mine = _installed.get(signum)
    if mine is not None and current is mine[1]:
        previous = mine[2]  # installing again: keep chaining to the original handler
    else:
        previous = current

    def handler(received, frame):
        _handle(received, frame)

    handler.__qualname__ = "infi_tracing_%s_handler" % kind
    _installed[signum] = (kind, handler, previous, stats_file)
    try:
        signal.signal(signum, handler)
    except BaseException:
        del _installed[signum]
        raise


def install_signal_handlers(toggle=signal.SIGUSR2, stats=signal.SIGUSR1, stats_file=None,
                            dump=None):
    """Opt-in runtime control: `toggle` switches tracing off/on, `stats`
    records tracing_stats() (see record_stats), `dump` writes a
    flight-recorder snapshot to the recorder's path.  Any may be None.  Call
    it from the main thread (a Python rule for signal handlers); each
    handler chains to the one it replaces."""
    given = [v for v in (toggle, stats, dump) if v is not None]
    if len(set(given)) != len(given):
        raise ValueError("toggle, stats and dump need different signals, got %r"
                         % ((toggle, stats, dump),))
    for value, name in ((toggle, "toggle"), (stats, "stats"), (dump, "dump")):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise ValueError("%s must be a signal number or None, got %r" % (name, value))
        if value is not None:
            _env.check_signal_number(int(value), name)
    if toggle is not None:
        _install("toggle", toggle, stats_file)
    if stats is not None:
        _install("stats", stats, stats_file)
    if dump is not None:
        _install("dump", dump, stats_file)
