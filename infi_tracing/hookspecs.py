"""pluggy hook specifications: how a plugin provides sinks.

A plugin is a module or object with ``@hookimpl`` functions, published under
the entry-point group ``infi_tracing.sinks``; the built-in sinks are
registered the same way (``infi_tracing.sinks.builtin``).  Hooks run at
configuration time only: the drain thread calls the sink objects directly.

A sink is an object with ``write(batch)`` (a list of record dicts),
``flush()`` and ``close()``: the ``Sink`` protocol below.  Native sinks also
carry a ``handle`` the drain writes through instead.
"""

from typing import Any, Protocol, runtime_checkable

import pluggy

__all__ = ["PROJECT_NAME", "ENTRY_POINT_GROUP", "hookspec", "hookimpl", "SinkHookSpecs", "Sink"]

PROJECT_NAME = "infi_tracing"
ENTRY_POINT_GROUP = "infi_tracing.sinks"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@runtime_checkable
class Sink(Protocol):
    """What ``infi_tracing_make_sink`` returns and ``infi_tracing.set_sinks`` takes.

    The drain thread calls ``write`` with the GIL held, one batch at a time.  A
    sink with a ``handle`` attribute (an ``infi_tracing.native._core.SinkHandle``)
    is written natively through the handle instead of ``write``.
    """

    def write(self, batch: list[dict[str, Any]]) -> None:
        """Take a batch of decoded records (dicts, see ``infi_tracing._format``).
        Raising counts an error, and the same records come again with the next batch."""

    def flush(self) -> None:
        """Push out whatever the sink buffers."""

    def close(self) -> None:
        """Flush and release the sink's resources; it gets no records afterwards."""


class SinkHookSpecs:
    """The hooks a sink plugin implements."""

    @hookspec
    def infi_tracing_sink_schemes(self):
        """Return the URL schemes (and dict ``type`` values) this plugin provides."""

    @hookspec(firstresult=True)
    def infi_tracing_make_sink(self, spec) -> Sink | None:
        """Return a sink for ``spec`` (an ``infi_tracing.SinkSpec``), or None when
        ``spec.scheme`` is not this plugin's.  Read options with ``spec.option()``
        and raise ValueError naming the bad part; unread options are rejected
        afterwards.  Do no I/O here: a sink with an ``open()`` method has it
        called once every spec of the list is valid (and close() if a later
        one cannot be opened)."""
