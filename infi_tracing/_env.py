"""Tracing settings from the environment and from command-line words.

The INFI_TRACING_* variables configure tracing without code changes (used
by ``python -m infi_tracing run``, ``import infi_tracing.auto`` and the
signal toggle).  Every bad value raises ValueError naming the variable.
"""

import fnmatch
import os
import signal

from infi_tracing import _config, _levels

__all__ = ["VARIABLES", "parse_level", "parse_buffer_size", "parse_globs", "parse_signals",
           "parse_yes_no", "filter_from_globs", "tracing_options_from_environment",
           "signals_from_environment", "stats_file_from_environment", "sinks_from_environment",
           "check_environment", "set_tracing_arguments", "start_tracing_from_environment",
           "check_signal_number", "clock_from_environment"]

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

#: Every variable read here (and INFI_TRACING_SINKS, read by _config).
VARIABLES = (_config.ENVIRONMENT_VARIABLE, LEVEL_VARIABLE, INCLUDE_VARIABLE, EXCLUDE_VARIABLE,
             BACKEND_VARIABLE, OVERFLOW_VARIABLE, BUFFER_SIZE_VARIABLE, GENERATORS_VARIABLE,
             SIGNALS_VARIABLE, START_VARIABLE, STATS_FILE_VARIABLE, CLOCK_VARIABLE)

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
    """``yes`` (toggle=SIGUSR2, stats=SIGUSR1), ``no``, or ``toggle=USR2,stats=USR1``
    (either part may be left out).  A dict of toggle/stats -> signal number or None."""
    word = str(text).strip()
    if word.lower() in _YES + ("default",):
        return dict(DEFAULT_SIGNALS)
    if word.lower() in _NO + ("",):
        return {"toggle": None, "stats": None}
    chosen = {"toggle": None, "stats": None}
    for part in parse_globs(word):
        key, eq, value = part.partition("=")
        if not eq or key.strip().lower() not in chosen:
            raise ValueError("%s: expected yes, no or toggle=SIGNAL,stats=SIGNAL, got %r"
                             % (source, text))
        chosen[key.strip().lower()] = _signal_number(value, source)
    if chosen["toggle"] is not None and chosen["toggle"] == chosen["stats"]:
        raise ValueError("%s: toggle and stats need different signals, got %r" % (source, text))
    return chosen


def _module_matches(name, pattern):
    return fnmatch.fnmatchcase(name, pattern) or fnmatch.fnmatchcase(name, pattern + ".*")


def _module_names(module_globals):
    """The module's __name__, and for a module run as __main__ (python -m
    pkg.mod) also its real name; the main script that multiprocessing
    re-imports in a spawned child as __mp_main__ is __main__ too."""
    name = module_globals.get("__name__")
    if not isinstance(name, str):
        return ("?",)
    if name not in ("__main__", "__mp_main__"):
        return (name,)
    names = (name,) if name == "__main__" else (name, "__main__")
    real = getattr(module_globals.get("__spec__"), "name", None)
    if isinstance(real, str) and real not in names:
        return names + (real,)
    return names


def _is_path_glob(pattern):
    return os.sep in pattern or "/" in pattern or pattern.endswith(".py")


def filter_from_globs(include=(), exclude=(), base_filter=None):
    """A set_tracing() filter from module-name or file-path globs.

    A code object is traced when it matches an include (or there are none)
    and no exclude.  A glob with a '/' or ending in '.py' matches the code's
    file path (relative globs are made absolute, ``~`` is expanded); any
    other glob matches the module name, a package's name covering its
    submodules (``myapp`` matches ``myapp`` and ``myapp.db``; a module run
    with ``-m`` matches by its own name as well as ``__main__``).
    `base_filter(frame)` (optional) is asked for what the globs let through.
    None when there is nothing to filter.
    """
    include, exclude = list(include), list(exclude)
    if not include and not exclude and base_filter is None:
        return None

    def split(patterns):
        paths, modules = [], []
        for pattern in patterns:
            if _is_path_glob(pattern):
                pattern = os.path.expanduser(pattern)
                if not pattern.startswith(("*", "?", "[")):
                    pattern = os.path.abspath(pattern)
                paths.append(pattern)
            else:
                modules.append(pattern)
        return paths, modules

    include_paths, include_modules = split(include)
    exclude_paths, exclude_modules = split(exclude)

    def matches(names, path, paths, modules):
        return any(_module_matches(name, p) for p in modules for name in names) or \
            any(fnmatch.fnmatchcase(path, p) for p in paths)

    def glob_filter(frame):
        code = frame.f_code
        names = _module_names(frame.f_globals)
        path = code.co_filename
        if not path.startswith("<"):
            path = os.path.abspath(path)
        if include and not matches(names, path, include_paths, include_modules):
            return False
        if exclude and matches(names, path, exclude_paths, exclude_modules):
            return False
        return True if base_filter is None else base_filter(frame)

    glob_filter.include = tuple(include)
    glob_filter.exclude = tuple(exclude)
    return glob_filter


def _get(environ, name):
    value = environ.get(name, "").strip()
    return value or None


def tracing_options_from_environment(environ=None):
    """The INFI_TRACING_* settings as a dict of option names to parsed values:
    level, backend, overflow, buffer_size, generators, include, exclude
    (only the variables that are set).  ValueError names a bad variable."""
    from infi_tracing import _api

    environ = os.environ if environ is None else environ
    options = {}
    value = _get(environ, LEVEL_VARIABLE)
    if value is not None:
        options["level"] = parse_level(value, LEVEL_VARIABLE)
    value = _get(environ, BACKEND_VARIABLE)
    if value is not None:
        options["backend"] = parse_choice(value, _api.BACKENDS, BACKEND_VARIABLE)
    value = _get(environ, OVERFLOW_VARIABLE)
    if value is not None:
        options["overflow"] = parse_choice(value, _api.OVERFLOW_MODES, OVERFLOW_VARIABLE)
    value = _get(environ, BUFFER_SIZE_VARIABLE)
    if value is not None:
        size = parse_buffer_size(value, BUFFER_SIZE_VARIABLE)
        if not _api.MIN_BUFFER_SIZE <= size <= _api.MAX_BUFFER_SIZE:
            raise ValueError("%s: buffer size must be between %d and %d bytes, got %r"
                             % (BUFFER_SIZE_VARIABLE, _api.MIN_BUFFER_SIZE,
                                _api.MAX_BUFFER_SIZE, value))
        options["buffer_size"] = size
    value = _get(environ, GENERATORS_VARIABLE)
    if value is not None:
        options["generators"] = parse_yes_no(value, GENERATORS_VARIABLE)
    for key, name in (("include", INCLUDE_VARIABLE), ("exclude", EXCLUDE_VARIABLE)):
        value = _get(environ, name)
        if value is not None:
            options[key] = parse_globs(value)
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


def start_tracing_from_environment(environ=None):
    """What ``import infi_tracing.auto`` does.

    With INFI_TRACING_SINKS set, configure those sinks and start tracing with
    the INFI_TRACING_* settings (unless INFI_TRACING_START=no); with
    INFI_TRACING_SIGNALS set, install the signal handlers.  Without either,
    nothing happens.  Returns True when tracing was started.
    """
    from infi_tracing import _api, _signals

    environ = os.environ if environ is None else environ
    check_environment(environ)
    arguments = set_tracing_arguments(tracing_options_from_environment(environ))
    signals = signals_from_environment(environ)
    start = start_from_environment(environ)
    sinks = sinks_from_environment(environ)
    if signals is not None and (signals["toggle"] is not None or signals["stats"] is not None):
        _signals.install_signal_handlers(toggle=signals["toggle"], stats=signals["stats"])
    if sinks is None:
        return False
    _api.set_sinks(sinks)
    if not start:
        return False
    _api.set_tracing(**arguments)
    return True
