"""The pluggy plugin manager: entry points of group ``infi_tracing.sinks``."""

import pluggy

from infi_tracing.hookspecs import ENTRY_POINT_GROUP, PROJECT_NAME, SinkHookSpecs

__all__ = ["plugin_manager", "known_schemes"]

_manager = None


def plugin_manager():
    """The process-wide plugin manager, loading entry points on first use."""
    global _manager
    if _manager is None:
        manager = pluggy.PluginManager(PROJECT_NAME)
        manager.add_hookspecs(SinkHookSpecs)
        manager.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
        _manager = manager
    return _manager


def known_schemes():
    """Every scheme some plugin provides, sorted."""
    schemes = set()
    for provided in plugin_manager().hook.infi_tracing_sink_schemes():
        schemes.update(provided or ())
    return sorted(schemes)
