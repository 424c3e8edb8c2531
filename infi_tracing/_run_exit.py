"""How a program run by ``python -m infi_tracing run`` ends: the summary at
exit, and the stop signals (SIGTERM, SIGHUP, SIGINT) that would otherwise
kill it before the rings are drained.

A stop signal whose action is the default (terminate) when run starts gets a
handler that stops tracing (every record reaches the sinks), closes the
sinks, prints the summary, then restores the default action and sends the
signal again, so the parent sees the process die of it (status -signal), as
without tracing.  The program's atexit functions do not run, as without
tracing.  A handler the program installs later replaces this one (its
signal.signal() wins); a signal ignored at start stays ignored; SIGINT keeps
Python's KeyboardInterrupt (its handler is not the default action).

The handler is a plain Python signal handler: Python runs it in the main
thread between bytecodes (a gevent hub waiting in epoll wakes up for it).
Interrupting the tracer's own code (a filter, a Python sink, set_tracing())
it waits for that code to return, as the signals module's handlers do.
"""

import os
import signal
import sys

from infi_tracing import _api, _signals, _summary

__all__ = ["install_stop_handlers", "print_summary_at_exit"]

STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)

# "running" -> "finishing" (the summary is being made) -> "finished".
_state = {"phase": "running", "pending": None, "pid": None, "summary": None, "top": 10}


def install_stop_handlers(summary, top):
    """Handle each stop signal whose action is the default; `summary` (a
    RunSummary, or None for no summary) and `top` are for the summary."""
    _state.update(pid=os.getpid(), summary=summary, top=top)
    for signum in STOP_SIGNALS:
        if signal.getsignal(signum) is signal.SIG_DFL:
            signal.signal(signum, _on_stop_signal)


def _die(signum):
    """Die of `signum` as the default action would: the parent sees -signum."""
    signal.signal(signum, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signum])  # delivered before kill() returns
    os.kill(os.getpid(), signum)
    os._exit(128 + signum)  # not reached: the default action of a stop signal terminates


def _on_stop_signal(signum, frame):
    if _state["phase"] == "finishing":
        _state["pending"] = signum  # the exit summary in progress dies of it when done
        return
    if _state["phase"] == "running" and _signals._inside_tracer(frame) and \
            _signals._defer(signum):
        return  # sent again once the tracer's own code has returned
    if _state["phase"] == "running":
        if os.getpid() == _state["pid"]:
            _finish()
        else:  # a forked child: its records, not run's summary
            _flush_quietly()
        _close_sinks()
    _die(signum)


def _flush_quietly():
    try:
        _api.unset_tracing()
    except Exception as exc:  # dying anyway: say why records may be missing
        _signals._note("flush failed: %s: %s" % (type(exc).__name__, exc))


def _close_sinks():
    """What interpreter exit does after the summary: stop the drain, close
    the sinks (a Perfetto file gets its closing bracket)."""
    try:
        _api.shutdown()
    except Exception as exc:  # dying anyway
        _signals._note("closing the sinks failed: %s: %s" % (type(exc).__name__, exc))


def _finish():
    """Stop tracing, deliver everything, print the summary (when wanted)."""
    _state["phase"] = "finishing"
    try:
        summary = _state["summary"]
        if summary is None:
            _flush_quietly()
            return
        try:
            backend = _api.stats_without_flush()["backend"]  # finish() delivers, bounded
            _api.finish()  # also counts lost what sinks could not deliver by now
            stats = _api.tracing_stats()
            stats["backend"] = backend
            text = _summary.format_summary(stats, summary, _state["top"])
            sys.stderr.flush()
            os.write(2, text.encode("utf-8", "backslashreplace"))
        except Exception as exc:  # never spoil the program's exit
            os.write(2, ("infi_tracing: no summary: %s\n" % exc).encode())
    finally:
        _state["phase"] = "finished"


def print_summary_at_exit():
    """At exit (after the program's own atexit functions): stop tracing,
    deliver everything, print the summary; a stop signal that came meanwhile
    is obeyed afterwards."""
    if _state["phase"] != "running":
        return
    _finish()
    if _state["pending"] is not None:
        _close_sinks()
        _die(_state["pending"])
