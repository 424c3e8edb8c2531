"""Tracing settings from the environment and from command-line words.

The INFI_TRACING_* variables configure tracing without code changes (used
by ``python -m infi_tracing run``, ``import infi_tracing.auto`` and the
signal toggle).  Every bad value raises ValueError naming the variable.
"""

import json
import os
import signal

from infi_tracing import _config, _flight, _flight_file, _levels, _retention
from infi_tracing._globs import filter_from_globs
from infi_tracing._options import (
    BACKENDS,
    OVERFLOW_MODES,
    check_buffer_size_range,
    check_redact,
    check_redact_values,
)

__all__ = ["VARIABLES", "parse_level", "parse_buffer_size", "parse_globs", "parse_signals",
           "parse_redact", "parse_redact_values",
           "parse_yes_no", "tracing_options_from_environment", "signals_from_environment",
           "stats_file_from_environment", "sinks_from_environment", "check_environment",
           "set_tracing_arguments", "check_signal_number", "clock_from_environment"]

LEVEL_VARIABLE = "INFI_TRACING_LEVEL"
INCLUDE_VARIABLE = "INFI_TRACING_INCLUDE"
EXCLUDE_VARIABLE = "INFI_TRACING_EXCLUDE"
BACKEND_VARIABLE = "INFI_TRACING_BACKEND"
OVERFLOW_VARIABLE = "INFI_TRACING_OVERFLOW"
BUFFER_SIZE_VARIABLE = "INFI_TRACING_BUFFER_SIZE"
GENERATORS_VARIABLE = "INFI_TRACING_GENERATORS"
SIGNALS_VARIABLE = "INFI_TRACING_SIGNALS"
START_VARIABLE = "INFI_TRACING_START"
STATS_FILE_VARIABLE = "INFI_TRACING_STATS_FILE"
CLOCK_VARIABLE = "INFI_TRACING_CLOCK"  # read natively at import (it_clock.h), checked here
REDACT_VARIABLE = "INFI_TRACING_REDACT"
REDACT_VALUES_VARIABLE = "INFI_TRACING_REDACT_VALUES"
FLIGHT_RECORDER_VARIABLE = "INFI_TRACING_FLIGHT_RECORDER"

#: Every variable read here (and INFI_TRACING_SINKS, read by _config).
VARIABLES = (_config.ENVIRONMENT_VARIABLE, LEVEL_VARIABLE, INCLUDE_VARIABLE, EXCLUDE_VARIABLE,
             BACKEND_VARIABLE, OVERFLOW_VARIABLE, BUFFER_SIZE_VARIABLE, GENERATORS_VARIABLE,
             SIGNALS_VARIABLE, START_VARIABLE, STATS_FILE_VARIABLE, CLOCK_VARIABLE,
             REDACT_VARIABLE, REDACT_VALUES_VARIABLE, FLIGHT_RECORDER_VARIABLE,
             _retention.MIN_DURATION_VARIABLE, _retention.KEEP_SLOW_VARIABLE)

LEVEL_NAMES = {"name": _levels.TRACE_FUNC_NAME, "primitives": _levels.TRACE_FUNC_PRIMITIVES,
               "repr": _levels.TRACE_FUNC_REPR}
_SIZE_SUFFIXES = {"": 1, "k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10, "m": 1 << 20,
                  "mb": 1 << 20, "mib": 1 << 20, "g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30}
_YES = ("1", "yes", "true", "on")
_NO = ("0", "no", "false", "off")
DEFAULT_SIGNALS = {"toggle": signal.SIGUSR2, "stats": signal.SIGUSR1}
CLOCKS = ("auto", "monotonic")
# Signals the kernel sends for a fault of the interrupted code: a Python-level
# handler only runs after the C handler returns to the faulting instruction.
_FAULT_SIGNALS = frozenset(int(getattr(signal, name)) for name in (
    "SIGSEGV", "SIGBUS", "SIGFPE", "SIGILL", "SIGABRT", "SIGTRAP", "SIGSYS")
    if hasattr(signal, name))


def parse_level(text, source):
    """A trace level from ``name``, ``primitives``, ``repr`` or a constant's name
    (``TRACE_FUNC_REPR``); ValueError names `source`."""
    word = str(text).strip()
    if word.lower() in LEVEL_NAMES:
        return LEVEL_NAMES[word.lower()]
    for level in LEVEL_NAMES.values():
        if word.upper() == level.name:
            return level
    raise ValueError("%s: unknown trace level %r (expected name, primitives or repr, or "
                     "TRACE_FUNC_NAME, TRACE_FUNC_PRIMITIVES or TRACE_FUNC_REPR)"
                     % (source, text))


def parse_buffer_size(text, source):
    """Bytes from ``8388608``, ``64K``, ``8M``, ``1G`` (binary units)."""
    word = str(text).strip().lower()
    digits = word.rstrip("kmgib")
    suffix = word[len(digits):]
    try:
        value = int(digits.strip()) * _SIZE_SUFFIXES[suffix]
    except (KeyError, ValueError):
        raise ValueError("%s: bad buffer size %r (expected bytes, e.g. 8388608, 64K, 8M)"
                         % (source, text)) from None
    return value


def parse_yes_no(text, source):
    """True for 1/yes/true/on, False for 0/no/false/off."""
    word = str(text).strip().lower()
    if word in _YES:
        return True
    if word in _NO:
        return False
    raise ValueError("%s: expected yes or no (1/0, true/false, on/off), got %r" % (source, text))


def parse_choice(text, choices, source):
    """`text` when it is one of `choices`."""
    word = str(text).strip()
    if word not in choices:
        raise ValueError("%s: must be one of %s, got %r" % (source, ", ".join(choices), text))
    return word


def parse_globs(text):
    """Globs separated by whitespace, ',' or ';'."""
    return [part for part in text.replace(";", " ").replace(",", " ").split() if part]


def parse_redact(text, source):
    """``none``, or names and globs separated by whitespace, ',' or ';' (added
    to the default list): a list for set_tracing's redact, checked."""
    entries = parse_globs(text)
    check_redact(entries, source)
    return entries


def parse_redact_values(text, source):
    """One regex, or a JSON list of them (text starting with '['): a list for
    set_tracing's redact_values, checked."""
    text = str(text).strip()
    patterns = [text]
    if text.startswith("["):
        try:
            patterns = json.loads(text)
        except ValueError as exc:
            raise ValueError("%s: a value starting with '[' must be a JSON list of regexes: "
                             "%s" % (source, exc)) from None
        if not isinstance(patterns, list):
            raise ValueError("%s: expected a JSON list of regexes, got %r" % (source, text))
    return list(check_redact_values(patterns, source))


def _signal_number(text, source):
    word = str(text).strip().upper()
    if word.isdigit():
        number = int(word)
    else:
        if not word.startswith("SIG"):
            word = "SIG" + word
        base, plus, offset = word.partition("+")
        try:
            number = int(getattr(signal, base)) + (int(offset) if plus else 0)
        except (AttributeError, TypeError, ValueError):
            raise ValueError("%s: unknown signal %r" % (source, text)) from None
    return check_signal_number(number, source, text)


def check_signal_number(number, source, text=None):
    """`number` when a tracing signal handler can use it; ValueError naming
    `source` (and the `text` it came from) otherwise."""
    text = number if text is None else text
    if number in (signal.SIGKILL, signal.SIGSTOP) or not 0 < number < signal.NSIG:
        raise ValueError("%s: signal %r cannot be handled" % (source, text))
    if number in _FAULT_SIGNALS:
        raise ValueError("%s: signal %r reports a fault of the program and cannot control "
                         "tracing (use e.g. USR1, USR2 or RTMIN+1)" % (source, text))
    return number


def parse_signals(text, source):
    """``yes`` (toggle=SIGUSR2, stats=SIGUSR1), ``no``, or
    ``toggle=USR2,stats=USR1,dump=RTMIN+1`` (any part may be left out; dump
    writes a flight-recorder snapshot).  A dict of toggle/stats/dump ->
    signal number or None ("dump" only when given)."""
    word = str(text).strip()
    if word.lower() in _YES + ("default",):
        return dict(DEFAULT_SIGNALS)
    if word.lower() in _NO + ("",):
        return {"toggle": None, "stats": None}
    chosen = {"toggle": None, "stats": None, "dump": None}
    for part in parse_globs(word):
        key, eq, value = part.partition("=")
        if not eq or key.strip().lower() not in chosen:
            raise ValueError("%s: expected yes, no or toggle=SIGNAL,stats=SIGNAL,dump=SIGNAL, "
                             "got %r" % (source, text))
        chosen[key.strip().lower()] = _signal_number(value, source)
    given = [v for v in chosen.values() if v is not None]
    if len(set(given)) != len(given):
        raise ValueError("%s: toggle, stats and dump need different signals, got %r"
                         % (source, text))
    if chosen["dump"] is None:
        del chosen["dump"]
    return chosen


def _get(environ, name):
    value = environ.get(name, "").strip()
    return value or None


def tracing_options_from_environment(environ=None):
    """The INFI_TRACING_* settings as a dict of option names to parsed values:
    level, backend, overflow, buffer_size, generators, include, exclude,
    redact, redact_values, flight_recorder (only the variables that are set).  ValueError
    names a bad variable."""
    environ = os.environ if environ is None else environ
    options = {}
    value = _get(environ, LEVEL_VARIABLE)
    if value is not None:
        options["level"] = parse_level(value, LEVEL_VARIABLE)
    value = _get(environ, BACKEND_VARIABLE)
    if value is not None:
        options["backend"] = parse_choice(value, BACKENDS, BACKEND_VARIABLE)
    value = _get(environ, OVERFLOW_VARIABLE)
    if value is not None:
        options["overflow"] = parse_choice(value, OVERFLOW_MODES, OVERFLOW_VARIABLE)
    value = _get(environ, BUFFER_SIZE_VARIABLE)
    if value is not None:
        options["buffer_size"] = check_buffer_size_range(
            parse_buffer_size(value, BUFFER_SIZE_VARIABLE), BUFFER_SIZE_VARIABLE, value)
    value = _get(environ, GENERATORS_VARIABLE)
    if value is not None:
        options["generators"] = parse_yes_no(value, GENERATORS_VARIABLE)
    for key, name in (("include", INCLUDE_VARIABLE), ("exclude", EXCLUDE_VARIABLE)):
        value = _get(environ, name)
        if value is not None:
            options[key] = parse_globs(value)
    value = _get(environ, REDACT_VARIABLE)
    if value is not None:
        options["redact"] = parse_redact(value, REDACT_VARIABLE)
    value = _get(environ, REDACT_VALUES_VARIABLE)
    if value is not None:
        options["redact_values"] = parse_redact_values(value, REDACT_VALUES_VARIABLE)
    value = _get(environ, FLIGHT_RECORDER_VARIABLE)
    if value is not None:
        options["flight_recorder"] = _flight.parse_flight_recorder(value,
                                                                   FLIGHT_RECORDER_VARIABLE)
    value = _get(environ, _flight_file.FILE_VARIABLE)
    if value is not None:  # the file alone: a recorder with the defaults
        keep = _get(environ, _flight_file.KEEP_VARIABLE)
        options["flight_recorder"] = _flight.with_changes(
            options.get("flight_recorder") or _flight.FlightRecorder(), file=value,
            keep_file=keep is not None and parse_yes_no(keep, _flight_file.KEEP_VARIABLE))
    for key, name in (("min_duration", _retention.MIN_DURATION_VARIABLE),
                      ("keep_slow", _retention.KEEP_SLOW_VARIABLE)):
        value = _get(environ, name)
        if value is not None:
            options[key] = _retention.check_option(key, value, name)
    return options


def set_tracing_arguments(options):
    """set_tracing() keyword arguments from tracing_options_from_environment()."""
    arguments = {k: v for k, v in options.items() if k not in ("include", "exclude")}
    arguments["filter"] = filter_from_globs(options.get("include", ()),
                                            options.get("exclude", ()))
    return arguments


def signals_from_environment(environ=None):
    """INFI_TRACING_SIGNALS parsed (see parse_signals), or None when unset."""
    value = _get(os.environ if environ is None else environ, SIGNALS_VARIABLE)
    return None if value is None else parse_signals(value, SIGNALS_VARIABLE)


def start_from_environment(environ=None):
    """INFI_TRACING_START: False when tracing should wait for the toggle signal."""
    value = _get(os.environ if environ is None else environ, START_VARIABLE)
    return True if value is None else parse_yes_no(value, START_VARIABLE)


def stats_file_from_environment(environ=None):
    """INFI_TRACING_STATS_FILE, or None."""
    return _get(os.environ if environ is None else environ, STATS_FILE_VARIABLE)


def clock_from_environment(environ=None):
    """INFI_TRACING_CLOCK checked: ``auto`` (the default: the TSC where it is
    usable) or ``monotonic`` (always clock_gettime)."""
    value = _get(os.environ if environ is None else environ, CLOCK_VARIABLE)
    return "auto" if value is None else parse_choice(value, CLOCKS, CLOCK_VARIABLE)


def _naming_sinks_variable(exc):
    text = str(exc)
    if _config.ENVIRONMENT_VARIABLE in text:
        return ValueError(text)
    return ValueError("%s: %s" % (_config.ENVIRONMENT_VARIABLE, text))


def sinks_from_environment(environ=None):
    """Sink objects for INFI_TRACING_SINKS, or None when it is unset; a
    ValueError names the variable and the bad spec."""
    try:
        specs = _config.specs_from_environment(os.environ if environ is None else environ)
        return None if specs is None else _config.sinks_from_specs(specs)
    except ValueError as exc:
        raise _naming_sinks_variable(exc) from None


def check_environment(environ=None):
    """Parse every INFI_TRACING_* variable; ValueError names the first bad one."""
    environ = os.environ if environ is None else environ
    try:
        specs = _config.specs_from_environment(environ)
        for spec in specs or ():
            _config.parse_sink_spec(spec)
    except ValueError as exc:
        raise _naming_sinks_variable(exc) from None
    tracing_options_from_environment(environ)
    signals_from_environment(environ)
    start_from_environment(environ)
    clock_from_environment(environ)
