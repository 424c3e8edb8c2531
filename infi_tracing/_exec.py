"""Records made before ``os.exec*`` reach the sinks.

exec replaces the process image without running atexit functions, so the
records still in the rings (and in the drain's sink buffers) would vanish.
Every ``os.exec*`` function ends in ``os.execv`` or ``os.execve`` (looked up
in the os module when called), so set_tracing() wraps those two: while
tracing is on they flush, then exec.  A failed exec (OSError) returns to a
program that is still traced.  Code that kept a reference to the original
functions (``from os import execv`` before set_tracing()) bypasses this.
"""

import functools
import os

from infi_tracing.native import _core

__all__ = ["flush_before_exec"]


def _flushing(exec_function):
    @functools.wraps(exec_function)
    def flush_then_exec(*args, **kwargs):
        if _core.backend_in_use() is not None:  # not tracing: nothing is pending
            _core.flush()
        return exec_function(*args, **kwargs)

    flush_then_exec.infi_tracing_original = exec_function
    return flush_then_exec


def flush_before_exec():
    """Wrap os.execv and os.execve (once) so that they flush while tracing."""
    for name in ("execv", "execve"):
        current = getattr(os, name)
        if not hasattr(current, "infi_tracing_original"):
            setattr(os, name, _flushing(current))
