"""set_tracing()'s option values and their checks: the one home that the API,
the INFI_TRACING_* environment and ``run``'s command line all call."""

import sys

from infi_tracing.native import _core

__all__ = ["BACKENDS", "OVERFLOW_MODES", "DEFAULT_BUFFER_SIZE", "MIN_BUFFER_SIZE",
           "MAX_BUFFER_SIZE", "check_buffer_size_range", "check_backend_available"]

BACKENDS = ("auto", "monitoring", "evalframe", "profile")
OVERFLOW_MODES = ("drop", "block")
DEFAULT_BUFFER_SIZE = 8 * 1024 * 1024
MIN_BUFFER_SIZE = 64 * 1024
MAX_BUFFER_SIZE = 1 << 30


def check_buffer_size_range(size, source=None, given=None):
    """`size` (bytes) when a ring may have it; ValueError otherwise, naming
    `source` (a variable or option; None: set_tracing's buffer_size) and the
    value as it was `given` (default: `size`)."""
    if not MIN_BUFFER_SIZE <= size <= MAX_BUFFER_SIZE:
        what = "buffer_size" if source is None else "%s: buffer size" % source
        raise ValueError("%s must be between %d and %d bytes, got %r"
                         % (what, MIN_BUFFER_SIZE, MAX_BUFFER_SIZE,
                            size if given is None else given))
    return size


def check_backend_available(backend, source=None):
    """`backend` (a name of BACKENDS) when this Python has it ("auto" always);
    ValueError otherwise, naming `source` (None: set_tracing's backend)."""
    available = _core.available_backends()
    if backend == "auto" or backend in available:
        return backend
    what = "backend=%r" % (backend,) if source is None else "%s: backend %r" % (source, backend)
    raise ValueError("%s is not available on Python %d.%d (available: %s)"
                     % ((what,) + sys.version_info[:2] + (", ".join(available),)))
