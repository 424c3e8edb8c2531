"""Excluding parts of a program from traces, per greenlet."""

import functools

from infi_tracing.native import _core

__all__ = ["suspend_tracing", "resume_tracing", "exclude_from_traces_context",
           "exclude_from_traces_recursive", "no_tracing_context_recursive",
           "no_tracing_recursive"]


def suspend_tracing():
    """Record nothing in the current greenlet until resume_tracing() (nestable)."""
    _core.suspend()


def resume_tracing():
    """Undo one suspend_tracing() of the current greenlet."""
    _core.resume()


class exclude_from_traces_context:  # lower case: the seed's public name
    """Context manager: nothing is traced inside, in this greenlet, however deep."""

    __slots__ = ()

    def __enter__(self):
        _core.suspend()
        return self

    def __exit__(self, *exc_info):
        _core.resume()
        return False


def exclude_from_traces_recursive(func):
    """Decorator: calls of ``func`` and everything they call are never traced.

    Functions keep their identity (the code object is marked NO_TRACE_NESTED);
    other callables are wrapped so the exclusion holds while they run.
    """
    target = getattr(func, "__func__", func)  # staticmethod/classmethod/bound method
    code = getattr(target, "__code__", None)
    if code is not None:
        _core.pin_nested_exclusion(code)
        return func
    if not callable(func):
        raise TypeError("exclude_from_traces_recursive needs a callable, got %r" % (func,))

    @functools.wraps(func)
    def excluded(*args, **kwargs):
        _core.suspend()
        try:
            return func(*args, **kwargs)
        finally:
            _core.resume()

    return excluded


no_tracing_context_recursive = exclude_from_traces_context
no_tracing_recursive = exclude_from_traces_recursive
