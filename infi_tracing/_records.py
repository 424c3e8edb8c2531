"""Records as Python sees them: the event names and the one decoding of a
record into the dict that Python sinks receive, the JSON-lines keys.

Both readers of native records build their dicts here: the drain thread for
Python sinks (native/sinks.pyx) and the binary trace file reader (_binary.py).
"""

__all__ = ["EVENT_NAMES", "CALL", "RETURN", "EXCEPTION", "RESUME", "YIELD", "LOST", "LOG",
           "SWITCH", "OMITTED", "record_dict"]

# Indexed by the IT_EV_* numbers of native/it_common.h (0 is the ring's
# filler, never decoded); the binary trace file stores the same numbers.
EVENT_NAMES = (None, "call", "return", "exception", "resume", "yield", "lost", "log", "switch",
               "omitted")
CALL, RETURN, EXCEPTION, RESUME, YIELD, LOST, LOG, SWITCH, OMITTED = range(1, len(EVENT_NAMES))


def record_dict(event, ts, wall_offset, pid, tid, greenlet=0, depth=0, code=None, values=None,
                count=0, duration_ns=-1, from_greenlet=0, omitted=(0, 0)):
    """The dict of one record.  `code` is (module, qualname, file, line,
    argument names) for a function's event; `values` the record's strings
    (a log record's level, logger and message; a call's arguments; the
    return value or exception), None for a record stored without them;
    `count` the records a "lost" record stands for; `duration_ns` an exit's
    call duration (native/it_pair.h), negative when unknown or not an exit
    (then the dict has no "duration_ns"); `from_greenlet` the greenlet a
    "switch" record's thread left (`greenlet` the one it switched to);
    for an "omitted" record (slow-call retention left children of the call
    at `depth` out), `count` the calls and `omitted` their (wall, active) ns."""
    if code is not None:
        # A function's event, by far the most common: one dict display (the
        # drain calls this once per record handed to a Python sink).
        module, qualname, filename, line, argnames = code
        rec = {"mono_ns": ts, "time_ns": ts + wall_offset, "pid": pid, "tid": tid,
               "event": EVENT_NAMES[event], "greenlet": greenlet, "depth": depth,
               "module": module, "qualname": qualname, "file": filename, "line": line}
        if not values:
            if values is not None and event == EXCEPTION:
                rec["exception"] = "?"
        elif event == CALL:
            rec["args"] = dict(zip(argnames, values, strict=False))
        elif event == EXCEPTION:
            rec["exception"] = values[0]
        else:
            rec["retval"] = values[0]
        if duration_ns >= 0:
            rec["duration_ns"] = duration_ns
        return rec
    rec = {"mono_ns": ts, "time_ns": ts + wall_offset, "pid": pid, "tid": tid,
           "event": EVENT_NAMES[event]}
    if event == LOST:
        rec["count"] = count
        return rec
    rec["greenlet"] = greenlet
    if event == SWITCH:
        rec["from_greenlet"] = from_greenlet
        return rec
    rec["depth"] = depth
    if event == OMITTED:
        rec["omitted_calls"] = count
        rec["omitted_ns"], rec["omitted_active_ns"] = omitted
        return rec
    if event == LOG:
        rec["level"], rec["logger"], rec["message"] = (list(values or ()) + ["", "", ""])[:3]
    return rec
