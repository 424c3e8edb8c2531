"""Packages whose public names are imported on first use (PEP 562).

Why: importing ``infi_tracing`` (or ``infi_tracing.sinks``) must not load
the native tracer, so that the trace reader and the analysis commands, which
live in subpackages, run without it (their import imports the parents)."""

import importlib

__all__ = ["lazy_exports"]


def lazy_exports(package, exports):
    """(__getattr__, __dir__) for `package` (its globals()), whose public names
    come from the modules `exports` maps them to."""

    def __getattr__(name):
        if name not in exports:
            raise AttributeError("module %r has no attribute %r"
                                 % (package["__name__"], name))
        # Every name at once: the first public name a program touches (say
        # set_tracing) loads them all, so no later lookup (flush_tracing while
        # tracing is on) calls here and puts this import in the trace.
        for other, module in exports.items():
            package[other] = getattr(importlib.import_module(module), other)
        return package[name]

    def __dir__():
        return sorted(set(package) | set(exports))

    return __getattr__, __dir__
