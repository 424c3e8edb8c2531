"""Start tracing from the environment on import (opt-in start-up module).

``import infi_tracing.auto`` -- in sitecustomize.py, a gunicorn config file
or the first line of a program -- configures the sinks in INFI_TRACING_SINKS
and starts tracing with the INFI_TRACING_LEVEL, _INCLUDE, _EXCLUDE,
_BACKEND, _OVERFLOW, _BUFFER_SIZE and _GENERATORS settings; with
INFI_TRACING_SIGNALS set it installs the toggle/stats signal handlers
(INFI_TRACING_START=no: handlers and sinks ready, tracing off until the
toggle signal).  Without INFI_TRACING_SINKS and INFI_TRACING_SIGNALS it does
nothing, so it may stay in place.  A bad value raises ValueError naming the
variable.
"""

from infi_tracing._autostart import start_tracing_from_environment

__all__ = ["started"]

#: Whether importing this module started tracing.
started = start_tracing_from_environment()
