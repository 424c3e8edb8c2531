"""What makes the flight recorder write a snapshot by itself: an unhandled
exception (``sys.excepthook``, ``threading.excepthook``, gevent's
``Hub.handle_error`` for greenlets), interpreter exit when asked, a slow
call (``--dump-on-slow``: the drain notes it, a waiter thread of ours
writes the snapshot) and the dump signal (``--signals dump=USR2``, handled
in _signals.py).

Each hook is installed once, chains to the hook it replaces (called after
the snapshot, with the same arguments), and asks the recorder in use when
it runs: with none, or with ``on_exception`` off, it only chains.  A
snapshot that fails is reported on stderr and never raised into the
program.
"""

import atexit
import importlib.abc
import os
import sys
import threading
import time

from infi_tracing import _flight
from infi_tracing.native import _core
from infi_tracing.sinks.unpatched import original

__all__ = ["install", "trigger"]

_installed = set()
_NOT_FAILURES = (SystemExit, KeyboardInterrupt)


def _note(text):
    from infi_tracing._signals import note  # (it imports the face, which imports us)
    note(text)


def trigger(reason):
    """Write a snapshot to the recorder's path, saying where on stderr.
    Returns the path, or None (no recorder, or the snapshot failed)."""
    if _flight.in_use() is None:
        return None
    try:
        path = _flight.dump_flight_recorder()
    except Exception as exc:  # never into the program: it is failing already
        _note("flight-recorder snapshot (%s) failed: %s" % (reason, exc))
        return None
    _note("flight-recorder snapshot (%s) written to %s" % (reason, path))
    return path


def _on_exception(kind, where):
    _core.call_untraced(_on_exception_untraced, kind, where)


def _on_exception_untraced(kind, where):
    recorder = _flight.in_use()
    if recorder is None or not recorder.on_exception or kind is None or \
            issubclass(kind, _NOT_FAILURES) or kind.__name__ == "GreenletExit":
        return
    trigger("unhandled %s in %s" % (kind.__name__, where))


def _install_excepthook():
    previous = sys.excepthook

    def excepthook(kind, value, tb):
        _on_exception(kind, "the main program")
        previous(kind, value, tb)

    sys.excepthook = excepthook


def _install_threading_excepthook():
    previous = threading.excepthook

    def excepthook(args):
        _on_exception(args.exc_type, "a thread")
        previous(args)

    threading.excepthook = excepthook


def _patch_hub(module):
    """gevent's Hub.handle_error: greenlets report their unhandled exceptions
    there (SystemExit and GreenletExit included: not failures here)."""
    hub = getattr(module, "Hub", None)
    previous = getattr(hub, "handle_error", None)
    if previous is None or getattr(previous, "_infi_tracing_flight", False):
        return

    def handle_error(self, context, kind, value, tb):
        _on_exception(kind, "a greenlet")
        return previous(self, context, kind, value, tb)

    handle_error._infi_tracing_flight = True
    hub.handle_error = handle_error


class _HubImportHook(importlib.abc.MetaPathFinder):
    """Patches gevent.hub when the program imports it after the recorder started."""

    def find_spec(self, name, path=None, target=None):
        if name != "gevent.hub":
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None and spec.loader is not None and \
                    hasattr(spec.loader, "exec_module"):
                loader = spec.loader
                exec_module = loader.exec_module

                def exec_and_patch(module, _exec=exec_module):
                    _exec(module)
                    _patch_hub(module)

                loader.exec_module = exec_and_patch
                return spec
        return None


def _install_gevent_hook():
    if "gevent.hub" in sys.modules:
        _patch_hub(sys.modules["gevent.hub"])
    else:
        sys.meta_path.insert(0, _HubImportHook())


def _at_exit():
    recorder = _flight.in_use()
    if recorder is not None and recorder.at_exit:
        trigger("exit")


_WAIT_MS = 1000  # the slow-call waiter looks up this often (it is also woken at once)


def _watch_slow(handle, cooldown):
    """The slow-call waiter: a snapshot for a slow call, then none for
    `cooldown` seconds (one window), so a slow endpoint does not write one
    per request.  Ends when its recorder is replaced."""
    seen, quiet_until = 0, 0.0
    while True:
        got = _core.flight_wait_slow(handle, seen, _WAIT_MS)
        if got is False:
            return
        if got is None:
            continue
        seen, name, duration_ns = got
        if time.monotonic() >= quiet_until and handle is _flight.handle():
            trigger("slow call: %s took %.3f ms" % (name, duration_ns / 1e6))
            quiet_until = time.monotonic() + cooldown


def _start_slow_waiter(recorder):
    """A real OS thread (gevent's monkey-patching would make a greenlet of a
    threading.Thread, which could only wait by blocking its hub), untraced."""
    handle = _flight.handle()
    if handle is None or not recorder.dump_on_slow:
        return
    original("_thread", "start_new_thread")(
        _core.call_untraced, (_watch_slow, handle, recorder.window))


def _restart_slow_waiter_in_child():
    recorder = _flight.in_use()
    if recorder is not None:
        _start_slow_waiter(recorder)  # the parent's waiter thread is not here


os.register_at_fork(after_in_child=_restart_slow_waiter_in_child)


def install(recorder):
    """The hooks `recorder` (a FlightRecorder or None, just made the one in
    use) needs, each once; its slow-call waiter."""
    if recorder is None:
        return
    _start_slow_waiter(recorder)
    if recorder.on_exception:  # a crash is the least handled exception of all
        _core.flight_on_fatal_signals(recorder.path or _flight.DEFAULT_PATH)
    if recorder.on_exception and "exceptions" not in _installed:
        _installed.add("exceptions")
        _install_excepthook()
        _install_threading_excepthook()
        _install_gevent_hook()
    if recorder.at_exit and "exit" not in _installed:
        _installed.add("exit")
        atexit.register(_at_exit)  # after the face's shutdown: so it runs before it
