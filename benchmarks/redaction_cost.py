"""What redaction costs at TRACE_FUNC_PRIMITIVES: the same loop traced with the default
deny-list, with ``redact="none"`` and with a value regex added, interleaved in one run.

Each run is a fresh subprocess tracing a loop of calls to a binary file
(``overflow="block"``) and timing it with ``time.thread_time()``: the traced thread's own
CPU time, without time it waits for the drain or is descheduled (see NOTES.md).  Workloads:
``args`` calls ``f(user, count, ratio)`` (a str, an int, a float: no argument named like a
secret, so redaction costs one bit test per argument), ``dict`` calls ``g(user, options)``
with a 3-key dict (each key is matched against the deny-list).  Ratios are each
configuration's median to ``none``'s median, per workload.

Usage::

    python benchmarks/redaction_cost.py [--calls N] [--rounds R] [--workloads args dict]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _ab import interleaved

CHILD_CODE = r"""
import json, sys, time
import infi_tracing

workload, mode, calls, workdir = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]

def f(user, count, ratio):
    return count

def g(user, options):
    return user

def loop_args(n):
    for i in range(n):
        f("alice", i, 0.5)

def loop_dict(n):
    options = {"timeout": 3, "retries": 2, "mode": "fast"}
    for i in range(n):
        g("alice", options)

loop = loop_args if workload == "args" else loop_dict
redact = {"none": "none", "default": None, "values": None}[mode]
redact_values = r"(?i)bearer [a-z0-9._-]+" if mode == "values" else None
infi_tracing.configure_sinks(["binary://%s/trace.itr" % workdir])
infi_tracing.set_tracing(level=infi_tracing.TRACE_FUNC_PRIMITIVES, overflow="block",
                         redact=redact, redact_values=redact_values)
loop(20000)  # warm up: decisions made, rings touched
start = time.thread_time()
loop(calls)
elapsed = time.thread_time() - start
infi_tracing.unset_tracing()
print(json.dumps({"cpu_s": elapsed}))
"""

MODES = ("none", "default", "values")


def run(workload, mode, calls):
    """Thread CPU seconds of one traced run in a fresh interpreter."""
    with tempfile.TemporaryDirectory(prefix="redaction_cost_") as workdir:
        proc = subprocess.run([sys.executable, "-c", CHILD_CODE, workload, mode, str(calls),
                               workdir], cwd=workdir, capture_output=True, text=True,
                              timeout=600)
    if proc.returncode != 0:
        raise RuntimeError("%s/%s failed:\n%s" % (workload, mode, proc.stderr))
    return json.loads(proc.stdout.splitlines()[-1])["cpu_s"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--calls", type=int, default=500_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--workloads", nargs="+", choices=("args", "dict"),
                        default=["args", "dict"])
    args = parser.parse_args(argv)
    configs = ["%s:%s" % (w, m) for w in args.workloads for m in MODES]
    specs, times = interleaved(configs, args.rounds,
                               lambda w, m: None if m == "baseline" else run(w, m, args.calls))
    print("Python %s, %d calls, %d rounds, thread CPU time, TRACE_FUNC_PRIMITIVES"
          % (sys.version.split()[0], args.calls, args.rounds))
    print("| workload | redaction | median s | min s | vs none (median) | vs none (min) |")
    print("|---|---|---:|---:|---:|---:|")
    for workload, mode in specs[1:]:
        t, base = times[(workload, mode)], times[(workload, "none")]
        print("| %s | %s | %.4f | %.4f | %+.1f%% | %+.1f%% |"
              % (workload, mode, statistics.median(t), min(t),
                 100 * (statistics.median(t) / statistics.median(base) - 1),
                 100 * (min(t) / min(base) - 1)))


if __name__ == "__main__":
    main()
