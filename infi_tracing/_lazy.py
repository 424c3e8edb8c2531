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
        try:
            module = exports[name]
        except KeyError:
            raise AttributeError("module %r has no attribute %r"
                                 % (package["__name__"], name)) from None
        value = getattr(importlib.import_module(module), name)
        package[name] = value  # the next lookup finds it without calling here
        return value

    def __dir__():
        return sorted(set(package) | set(exports))

    return __getattr__, __dir__
