"""The reader's filter values as users write them: times for --from/--to and
durations for --min-duration, checked once here with errors naming the
argument and what was expected."""

import calendar
import datetime
import re

__all__ = ["TIME_WALL", "TIME_RELATIVE", "parse_time", "parse_duration"]

TIME_WALL, TIME_RELATIVE = 1, 2  # it_reader.h's IT_READER_TIME_*

_UNITS = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 1_000_000_000}
_DURATION = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(ns|us|ms|s)?\s*$")
_ISO = re.compile(r"\s*(\d{4}-\d\d-\d\d)[T ](\d\d):(\d\d)(?::(\d\d)(?:\.(\d{1,9}))?)?"
                  r"\s*(Z|[+-]\d\d:?\d\d)?\s*$")


def parse_time(value, name="--from"):
    """(kind, ns) of a time filter: TIME_WALL and the wall time in ns since
    the epoch for an ISO 8601 time as text traces show it
    (``2026-11-25T22:10:01.123456Z``; no zone means UTC), TIME_RELATIVE and
    ns after the trace's first record for a number of seconds (``1.5``).
    ValueError naming `name` otherwise."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = value
    else:
        text = str(value)
        match = _ISO.match(text)
        if match:
            return TIME_WALL, _iso_ns(match, text, name)
        try:
            seconds = float(text)
        except ValueError:
            raise ValueError("%s: expected a time like 2026-11-25T22:10:01.123456Z or a number "
                             "of seconds into the trace, got %r" % (name, text)) from None
    if not seconds >= 0 or seconds == float("inf"):
        raise ValueError("%s: expected a number of seconds >= 0, got %r" % (name, value))
    return TIME_RELATIVE, round(seconds * 1e9)


def _iso_ns(match, text, name):
    day, hour, minute, second, fraction, zone = match.groups()
    try:
        date = datetime.date.fromisoformat(day)
        stamp = datetime.datetime(date.year, date.month, date.day, int(hour), int(minute),
                                  int(second or 0))
    except ValueError as exc:
        raise ValueError("%s: %r is not a valid time (%s)" % (name, text, exc)) from None
    seconds = calendar.timegm(stamp.timetuple())
    if zone and zone != "Z":
        sign = -1 if zone[0] == "+" else 1  # 12:00+02:00 is 10:00 UTC
        digits = zone[1:].replace(":", "")
        seconds += sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
    return seconds * 1_000_000_000 + int((fraction or "0").ljust(9, "0"))


def parse_duration(text, name="--min-duration"):
    """Nanoseconds of a duration such as ``1ms``, ``250us``, ``2s``, ``1.5ms``
    or ``800ns`` (a bare number is seconds).  ValueError naming `name`
    otherwise."""
    match = _DURATION.match(str(text))
    if not match:
        raise ValueError("%s: expected a duration like 1ms, 250us, 2s or 800ns, got %r"
                         % (name, text))
    number, unit = match.groups()
    return round(float(number) * _UNITS[unit or "s"])
