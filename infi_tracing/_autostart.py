"""What ``import infi_tracing.auto`` does: start tracing from the INFI_TRACING_*
environment.  Above both the environment's parsing (_env) and the signal
handlers (_signals), so neither has to import the other."""

import os

from infi_tracing import _api, _signals
from infi_tracing._env import (
    check_environment,
    set_tracing_arguments,
    signals_from_environment,
    sinks_from_environment,
    start_from_environment,
    tracing_options_from_environment,
)

__all__ = ["start_tracing_from_environment"]


def start_tracing_from_environment(environ=None):
    """What ``import infi_tracing.auto`` does.

    With INFI_TRACING_SINKS (or INFI_TRACING_FLIGHT_RECORDER) set, configure
    those sinks and start tracing with the INFI_TRACING_* settings (unless INFI_TRACING_START=no); with
    INFI_TRACING_SIGNALS set, install the signal handlers.  Without either,
    nothing happens.  Returns True when tracing was started.
    """
    environ = os.environ if environ is None else environ
    check_environment(environ)
    arguments = set_tracing_arguments(tracing_options_from_environment(environ))
    signals = signals_from_environment(environ)
    start = start_from_environment(environ)
    sinks = sinks_from_environment(environ)
    if signals is not None and any(v is not None for v in signals.values()):
        _signals.install_signal_handlers(toggle=signals["toggle"], stats=signals["stats"],
                                         dump=signals.get("dump"))
    if sinks is None and arguments.get("flight_recorder") is None:
        return False
    if sinks is not None:
        _api.set_sinks(sinks)
    if not start:
        return False
    _api.set_tracing(**arguments)
    return True
