"""What a Python sink should use for I/O under gevent: the originals.

Python sinks run in the drain thread, a native pthread outside any gevent
hub.  After ``gevent.monkey.patch_all()`` the ``socket``, ``threading`` or
``time`` a sink would import are gevent's cooperative versions, which need a
hub and would start one in the drain thread.  ``original("socket",
"socket")`` gives the blocking object as it was before patching (the same
object when gevent did not patch it, or is not loaded).
"""

import importlib
import sys

__all__ = ["original"]


def original(module, name):
    """``module.name`` as it was before gevent monkey-patched it."""
    gevent_monkey = sys.modules.get("gevent.monkey")
    if gevent_monkey is not None:
        try:
            return gevent_monkey.get_original(module, name)
        except (AttributeError, ImportError, KeyError):
            pass
    return getattr(importlib.import_module(module), name)
