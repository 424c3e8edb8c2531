"""Checks that a tool saw the right call tree of the gevent workloads (compare.py's nesting
column).

Event traces (infi_tracing, viztracer) must nest per greenlet and name the true callers of the
checked function; aggregates (cProfile, yappi) can only be checked for the callers.
"""

import collections
import json

from _tracers import Infi, VizTracerTool

__all__ = ["INHERITED", "check_events", "viztracer_events", "check"]


INHERITED = "<open before the process was seen>"


def check_events(events, target):
    """Check call/return sequences from (key, event, name, depth) tuples nest per key.

    Returns (problems, callers of ``target``, lost records).  A return must close the innermost
    open call of its greenlet (same name, depth one less than the open calls); records of
    calls still open at the end (the hub, the main greenlet) are fine.  A process seen for the
    first time (a fork child, which goes on from its parent's depth) may start deeper: the
    frames it inherited count as open and match any return.
    """
    stacks = {}
    pids = set()
    callers = collections.Counter()
    problems = []
    lost = 0
    for key, event, name, depth in events:
        if event == "lost":
            lost += int(name)
            continue
        stack = stacks.get(key)
        if stack is None:
            stack = stacks[key] = []
            if key[0] not in pids and len(key) == 3:
                pids.add(key[0])
                stack.extend([INHERITED] * (depth if event in ("call", "resume") else depth + 1))
        if event in ("call", "resume"):
            if depth != len(stack) and len(problems) < 5:
                problems.append("%s %s at depth %s with %d open in greenlet %s"
                                % (event, name, depth, len(stack), key[-1]))
            if name == target:
                callers[stack[-1] if stack else None] += 1
            stack.append(name)
        elif event in ("return", "exception", "yield"):
            if not stack or stack[-1] not in (name, INHERITED) or depth != len(stack) - 1:
                if len(problems) < 5:
                    problems.append("%s %s at depth %s, open: %s in greenlet %s"
                                    % (event, name, depth, stack[-3:], key[-1]))
                stack[:] = stack[:depth]  # resynchronise on the record's own depth
            else:
                stack.pop()
    return problems, callers, lost


def viztracer_events(path):
    """viztracer's complete events as (key, event, name, depth), from interval nesting.

    Intervals of one thread must nest (each either inside or after the previous open one);
    a crossing one is reported as a return that does not match.
    """
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    by_thread = collections.defaultdict(list)
    for ev in data["traceEvents"]:
        if ev.get("ph") == "X":
            name = ev["name"].split(" (", 1)[0]
            by_thread[ev["pid"], ev["tid"]].append((ev["ts"], -ev["dur"], name))
    eps = 0.002  # viztracer rounds timestamps to the nanosecond (in microseconds)
    for key, evs in by_thread.items():
        evs.sort()
        stack = []
        for ts, neg_dur, name in evs:
            while stack and stack[-1][0] <= ts + eps:
                end, open_name = stack.pop()
                yield key, "return", open_name, len(stack)
            if stack and ts - neg_dur > stack[-1][0] + eps:
                yield key, "return", "<crossing %s>" % stack[-1][1], len(stack) - 1
            yield key, "call", name, len(stack)
            stack.append((ts - neg_dur, name))
        while stack:
            _end, open_name = stack.pop()
            yield key, "return", open_name, len(stack)


def check(tool, workload, expected):
    """Return "ok" or "FAILED: ..." for the tool's view of the call tree."""
    target = "chain_a" if workload == "greenlets" else "wsgi_handle"
    if isinstance(tool, Infi):
        problems, callers, lost = check_events(tool.events(), target)
        if lost:
            problems.append("%d records lost" % lost)
    elif isinstance(tool, VizTracerTool):
        problems, callers, _ = check_events(viztracer_events(tool.path), target)
    else:
        problems, callers = [], tool.callers_of(target)
    callers = {k: v for k, v in callers.items() if v}
    if callers != expected:
        problems.append("callers of %s: %s, expected %s"
                        % (target, dict(sorted(callers.items(), key=str)), expected))
    if problems:
        return "FAILED: " + "; ".join(problems)
    # an aggregate (cProfile, yappi) only shows immediate callers, not the sequence
    return "ok" if isinstance(tool, Infi | VizTracerTool) else "callers ok"
