"""Slow-call retention settings (issue 12): which records a sink writes.

``min_duration`` ("2ms"): a call is written only if it took at least that
long, with its ancestors as context.  ``keep_slow`` ("myapp.handle>100ms"):
the whole subtree of a call of a function matching the glob (on
``module.qualname``) that took at least the threshold, nothing of the fast
ones.  ``max_held``: records held per greenlet inside an open keep_slow root
before the closed subtrees held are given up (counted lost).  The drain
applies them (native/it_slow.h); each written call carries the count and
time of the children left out (an "omitted" record before its exit).

Per sink (URL options ``?min_duration=2ms&keep_slow=...&max_held=N``), or
for every sink without its own: ``set_tracing(min_duration=...,
keep_slow=...)``, ``run --min-duration/--keep-slow``, or the environment
(INFI_TRACING_MIN_DURATION, INFI_TRACING_KEEP_SLOW).
"""

import os
from typing import NamedTuple

from infi_tracing.analysis._filters import parse_duration

__all__ = ["Retention", "parse_retention", "parse_min_duration", "parse_keep_slow",
           "check_option", "from_environment",
           "apply_to_handle", "MIN_DURATION_VARIABLE", "KEEP_SLOW_VARIABLE"]

MIN_DURATION_VARIABLE = "INFI_TRACING_MIN_DURATION"
KEEP_SLOW_VARIABLE = "INFI_TRACING_KEEP_SLOW"
DEFAULT_MAX_HELD = 100000


class Retention(NamedTuple):
    """Parsed settings: thresholds in ns, None where a rule is not set."""
    min_ns: object
    keep_glob: object
    keep_ns: int
    max_held: int


def parse_min_duration(value, name="min_duration"):
    """Nanoseconds of a duration ("2ms", or an int of ns); ValueError naming `name`."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise ValueError("%s: expected a duration, not a negative number" % name)
        return value
    return parse_duration(value, name)


def parse_keep_slow(text, name="keep_slow"):
    """(glob, ns) of ``GLOB>DURATION``; ValueError naming `name` otherwise."""
    glob, sep, duration = str(text).rpartition(">")
    if not sep or not glob.strip():
        raise ValueError("%s: expected GLOB>DURATION like 'myapp.handle>100ms', got %r"
                         % (name, text))
    return glob.strip(), parse_duration(duration.strip(), name)


def parse_retention(min_duration=None, keep_slow=None, max_held=None, source="set_tracing"):
    """A Retention, or None when neither rule is given.  ValueError names
    the bad argument (``source``: where it came from)."""
    if max_held is not None:
        try:
            max_held = int(max_held)
        except (TypeError, ValueError):
            max_held = -1
        if max_held < 1:
            raise ValueError("%s: max_held must be a positive number of records" % source)
    if min_duration is None and keep_slow is None:
        if max_held is not None:
            raise ValueError("%s: max_held needs min_duration or keep_slow" % source)
        return None
    min_ns = None
    if min_duration is not None:
        min_ns = parse_min_duration(min_duration, "%s: min_duration" % source)
    glob, keep_ns = (None, 0)
    if keep_slow is not None:
        glob, keep_ns = parse_keep_slow(keep_slow, "%s: keep_slow" % source)
    return Retention(min_ns, glob, keep_ns, max_held or DEFAULT_MAX_HELD)


def check_option(key, value, name):
    """Check ``min_duration`` or ``keep_slow`` text given as `name` (a command-line flag,
    an environment variable); ValueError naming it."""
    if key == "min_duration":
        parse_min_duration(value, name)
    else:
        parse_keep_slow(value, name)
    return value


def from_environment(environ=None):
    """The Retention of INFI_TRACING_MIN_DURATION / INFI_TRACING_KEEP_SLOW, or None."""
    environ = os.environ if environ is None else environ
    min_duration = environ.get(MIN_DURATION_VARIABLE) or None
    keep_slow = environ.get(KEEP_SLOW_VARIABLE) or None
    if min_duration is None and keep_slow is None:
        return None
    min_ns = None
    if min_duration is not None:
        min_ns = parse_min_duration(min_duration, MIN_DURATION_VARIABLE)
    glob, keep_ns = (None, 0)
    if keep_slow is not None:
        glob, keep_ns = parse_keep_slow(keep_slow, KEEP_SLOW_VARIABLE)
    return Retention(min_ns, glob, keep_ns, DEFAULT_MAX_HELD)


def apply_to_handle(handle, retention):
    """Give a sink handle its retention (a handle keeps its first one)."""
    if retention is None or handle.has_retention():
        return
    handle.set_retention(retention.min_ns, retention.keep_glob, retention.keep_ns,
                         retention.max_held)
