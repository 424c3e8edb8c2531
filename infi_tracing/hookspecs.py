"""pluggy hook specifications: how a plugin provides sinks.

A plugin is a module or object with ``@hookimpl`` functions, published under
the entry-point group ``infi_tracing.sinks``; the built-in sinks are
registered the same way (``infi_tracing.sinks.builtin``).  Hooks run at
configuration time only: the drain thread calls the sink objects directly.

A sink is an object with ``write(batch)`` (a list of record dicts),
``flush()`` and ``close()``; native sinks also carry a ``handle``.
"""

import pluggy

__all__ = ["PROJECT_NAME", "ENTRY_POINT_GROUP", "hookspec", "hookimpl", "SinkHookSpecs"]

PROJECT_NAME = "infi_tracing"
ENTRY_POINT_GROUP = "infi_tracing.sinks"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


class SinkHookSpecs:
    """The hooks a sink plugin implements."""

    @hookspec
    def infi_tracing_sink_schemes(self):
        """Return the URL schemes (and dict ``type`` values) this plugin provides."""

    @hookspec(firstresult=True)
    def infi_tracing_make_sink(self, spec):
        """Return a sink for ``spec`` (an ``infi_tracing.SinkSpec``), or None when
        ``spec.scheme`` is not this plugin's.  Read options with ``spec.option()``
        and raise ValueError naming the bad part; unread options are rejected
        afterwards."""
