"""Trace levels: what a filter returns for a code object."""

import enum

from infi_tracing.native import _core

__all__ = ["TraceLevel", "NO_TRACE", "NO_TRACE_NESTED", "TRACE_FUNC_NAME",
           "TRACE_FUNC_PRIMITIVES", "TRACE_FUNC_REPR"]


class TraceLevel(enum.IntEnum):
    """How much of a function's calls is recorded."""

    NO_TRACE = _core.NO_TRACE                            #: not this function; its callees still
    NO_TRACE_NESTED = _core.NO_TRACE_NESTED              #: neither it nor anything it calls
    TRACE_FUNC_NAME = _core.TRACE_FUNC_NAME              #: calls and returns, by name
    TRACE_FUNC_PRIMITIVES = _core.TRACE_FUNC_PRIMITIVES  #: plus primitive args/return values
    TRACE_FUNC_REPR = _core.TRACE_FUNC_REPR              #: plus bounded repr() of any value


NO_TRACE = TraceLevel.NO_TRACE
NO_TRACE_NESTED = TraceLevel.NO_TRACE_NESTED
TRACE_FUNC_NAME = TraceLevel.TRACE_FUNC_NAME
TRACE_FUNC_PRIMITIVES = TraceLevel.TRACE_FUNC_PRIMITIVES
TRACE_FUNC_REPR = TraceLevel.TRACE_FUNC_REPR
