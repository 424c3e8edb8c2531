"""set_tracing()'s option values and their checks: the one home that the API,
the INFI_TRACING_* environment and ``run``'s command line all call."""

import sys

from infi_tracing.native import _core

__all__ = ["BACKENDS", "OVERFLOW_MODES", "DEFAULT_BUFFER_SIZE", "MIN_BUFFER_SIZE",
           "MAX_BUFFER_SIZE", "DEFAULT_REDACT", "check_buffer_size_range",
           "check_backend_available", "check_redact", "check_redact_values", "check_redaction"]

BACKENDS = ("auto", "monitoring", "evalframe", "profile")
OVERFLOW_MODES = ("drop", "block")
DEFAULT_BUFFER_SIZE = 8 * 1024 * 1024
MIN_BUFFER_SIZE = 64 * 1024
MAX_BUFFER_SIZE = 1 << 30
#: Argument names (words of them) redacted unless redact="none".
DEFAULT_REDACT = _core.DEFAULT_REDACT
_GLOB_CHARACTERS = frozenset("*?[")


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


def _entries(value, what, source):
    """A str is one entry; any other iterable gives its str items."""
    if isinstance(value, str):
        return (value,)
    try:
        entries = tuple(value)
    except TypeError:
        entries = (value,)
    for entry in entries:
        if not isinstance(entry, str) or not entry.strip():
            raise ValueError("%s must be %s (a str or a list of them), got %r"
                             % (source, what, value))
    return entries


def check_redact(value, source="redact"):
    """set_tracing's ``redact`` checked: None (the default list), "none"
    (names are not redacted), or names and globs added to the default list.
    Returns (names on, words, globs); ValueError names `source`."""
    if value is None:
        return True, DEFAULT_REDACT, ()
    entries = tuple(e.strip() for e in _entries(value, "names or globs", source))
    if any(e.lower() == "none" for e in entries):
        if len(entries) > 1:
            raise ValueError("%s: 'none' switches name redaction off and cannot be combined "
                             "with names, got %r" % (source, value))
        return False, (), ()
    globs = tuple(e for e in entries if _GLOB_CHARACTERS & set(e))
    words = tuple(e for e in entries if e not in globs)
    for word in words:
        if not _core.normalised_word(word):
            raise ValueError("%s: %r has no letter or digit to match a name" % (source, word))
    return True, DEFAULT_REDACT + words, globs


def check_redact_values(value, source="redact_values"):
    """set_tracing's ``redact_values`` checked: POSIX extended regexes (a str
    is one), a value matching one of them is redacted whole; a leading
    "(?i)" ignores case.  ValueError names `source` and the bad regex."""
    if value is None:
        return ()
    patterns = _entries(value, "regexes", source)
    for pattern in patterns:
        error = _core.regex_error(pattern)
        if error is not None:
            raise ValueError("%s: bad regex %r (POSIX extended): %s" % (source, pattern, error))
    return patterns


def check_redaction(redact, redact_values):
    """Both options checked: the arguments of _core.set_redaction(), which
    makes them the ones the next set_tracing() session renders values with."""
    return check_redact(redact) + (check_redact_values(redact_values),)
