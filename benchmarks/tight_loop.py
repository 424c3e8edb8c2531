"""Overhead of infi_tracing on a tight call loop, as a ratio to an untraced baseline.

The workload is ``def f(a, b): return a`` called N times in a ``for`` loop inside a
function.  Configurations (each backend that ``_core.available_backends()`` lists):

* ``baseline``             - no tracing at all;
* ``<backend>-name``       - every call and return recorded at TRACE_FUNC_NAME into a text
                             file sink, ``overflow="block"`` (lossless, so the time includes
                             the drain keeping up);
* ``<backend>-name-drop``  - the same with ``overflow="drop"`` (records may be lost);
* ``<backend>-binary``     - every call and return recorded at TRACE_FUNC_NAME into the
                             binary file sink, ``overflow="block"`` (the fastest lossless way);
* ``<backend>-filtered``   - tracing on, but the filter returns NO_TRACE for everything;
* ``<backend>-flight``     - every call and return kept by the flight recorder alone
                             (30s,64M), nothing streamed, ``overflow="block"``;
* ``<backend>-flightfile`` - the same with the crash-survival file (rings and blocks in a
                             shared mapping of a file in the temp dir; not in the default
                             list: ``ab_tight_loop.py --cpu evalframe-flight
                             evalframe-flightfile``).

Every measurement runs in a fresh subprocess of this interpreter (cwd = a temp dir, so the
source tree never shadows the installed package).  The child warms up with a short loop,
then times the loop alone with ``time.perf_counter``; ``unset_tracing()`` (the final flush)
is timed separately as ``flush_s``.  Rounds run all configurations in shuffled order; the
report gives per configuration the median, min-max, the median ratio to the baseline median
(also with the flush counted) and, for traced configurations, records delivered / lost in
the last run, as Markdown.

Usage::

    python benchmarks/tight_loop.py [--calls N] [--rounds R] [--quick] [--seed S]
"""

import argparse
import datetime
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile

DEFAULT_CALLS = 2_000_000
DEFAULT_ROUNDS = 5
QUICK_CALLS = 200_000
QUICK_ROUNDS = 3
WARMUP_CALLS = 1_000
CHILD_TIMEOUT_S = 600

# Run by ``python -c CHILD_CODE <config> <calls> <warmup> <workdir>`` in a fresh interpreter.
CHILD_CODE = r'''
import json, os, sys, time

config, calls, warmup, workdir = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]


def f(a, b):
    return a


def loop(n):
    for i in range(n):
        f(i, i)


result = {"config": config, "calls": calls}
if config == "baseline":
    loop(warmup)
    t0 = time.perf_counter()
    loop(calls)
    result["elapsed_s"] = time.perf_counter() - t0
else:
    import infi_tracing
    backend, _, mode = config.partition("-")
    sink = os.path.join(workdir, "trace.txt")
    if mode == "binary":
        infi_tracing.configure_sinks(["binary://" + os.path.join(workdir, "trace.itr")])
    elif mode in ("flight", "flightfile"):  # the flight recorder alone (64 MiB), nothing streamed
        infi_tracing.set_sinks([])
    else:
        infi_tracing.tracing_output_to_file(sink, format="text")
    if mode == "filtered":
        infi_tracing.set_tracing(lambda frame: infi_tracing.NO_TRACE, backend=backend,
                                 level=infi_tracing.TRACE_FUNC_NAME, overflow="block")
    else:
        infi_tracing.set_tracing(None, backend=backend, level=infi_tracing.TRACE_FUNC_NAME,
                                 overflow="drop" if mode == "name-drop" else "block",
                                 flight_recorder=infi_tracing.FlightRecorder(
                                     30, 64 << 20, file=os.path.join(workdir, "f-{pid}.flight")
                                     if mode == "flightfile" else None)
                                 if mode in ("flight", "flightfile") else None)
    loop(warmup)
    t0 = time.perf_counter()
    loop(calls)
    t1 = time.perf_counter()
    infi_tracing.unset_tracing()
    t2 = time.perf_counter()
    stats = infi_tracing.tracing_stats()
    result.update(elapsed_s=t1 - t0, flush_s=t2 - t1, records=stats["records"],
                  lost=stats["lost"], sink_bytes=sum(s["bytes"] for s in stats["sinks"]))
print(json.dumps(result))
'''


def configurations():
    """baseline plus the three traced configurations for each available backend.

    The backends are asked of a child too, so the source tree never shadows the package.
    """
    with tempfile.TemporaryDirectory(prefix="tight_loop_") as workdir:
        out = subprocess.run(
            [sys.executable, "-c", "import json; from infi_tracing.native import _core; "
             "print(json.dumps(list(_core.available_backends())))"],
            cwd=workdir, capture_output=True, text=True, check=True, timeout=60,
        ).stdout
    configs = ["baseline"]
    for backend in json.loads(out.splitlines()[-1]):
        configs += [f"{backend}-name", f"{backend}-name-drop", f"{backend}-binary",
                    f"{backend}-filtered"]
    return configs


def run_child(config, calls, warmup):
    """Run one measurement in a fresh interpreter; return its parsed JSON result."""
    with tempfile.TemporaryDirectory(prefix="tight_loop_") as workdir:
        proc = subprocess.run(
            [sys.executable, "-c", CHILD_CODE, config, str(calls), str(warmup), workdir],
            cwd=workdir, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S,
        )
    if proc.returncode != 0:
        raise RuntimeError(f"child {config} exited with {proc.returncode}:\n"
                           f"{proc.stdout}{proc.stderr}")
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"child {config} printed no result:\n{proc.stdout}{proc.stderr}")
    return json.loads(lines[-1])


def fmt_s(seconds):
    return f"{seconds:.4f}"


def report(results, configs, args):
    """Print the Markdown table for ``results`` (config -> list of child results)."""
    now = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    print(f"## tight_loop: Python {platform.python_version()} "
          f"({platform.python_implementation()}), {platform.machine()}, "
          f"{os.cpu_count()} CPUs, {now}")
    print()
    expected = 2 * (args.calls + WARMUP_CALLS) + 4  # f calls/returns + two loop() calls
    print(f"{args.calls} calls of `f(a, b)` per run, warm-up {WARMUP_CALLS} calls, "
          f"{args.rounds} rounds (configurations interleaved in shuffled order), each run in "
          "a fresh subprocess. Ratio = median / baseline median; ratio incl. flush = median of "
          "(loop + unset_tracing()) / baseline median. Records / lost are from the "
          f"last run; expected records when nothing is lost: {expected:,}.")
    print()
    print("| configuration | median s | min-max s | ratio | flush s (median) "
          "| ratio incl. flush | records delivered | lost |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    base = statistics.median(r["elapsed_s"] for r in results["baseline"])
    for config in configs:
        runs = results[config]
        times = [r["elapsed_s"] for r in runs]
        med = statistics.median(times)
        row = [config, fmt_s(med), f"{fmt_s(min(times))}-{fmt_s(max(times))}",
               f"{med / base:.2f}x"]
        if "flush_s" in runs[-1]:
            total = statistics.median(r["elapsed_s"] + r["flush_s"] for r in runs)
            row += [fmt_s(statistics.median(r["flush_s"] for r in runs)), f"{total / base:.2f}x",
                    f"{runs[-1]['records']:,}", f"{runs[-1]['lost']:,}"]
        else:
            row += ["-", "-", "-", "-"]
        print("| " + " | ".join(row) + " |")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--calls", type=int, default=None,
                        help=f"calls of f per timed loop (default {DEFAULT_CALLS})")
    parser.add_argument("--rounds", type=int, default=None,
                        help=f"rounds of all configurations (default {DEFAULT_ROUNDS})")
    parser.add_argument("--quick", action="store_true",
                        help=f"calls={QUICK_CALLS}, rounds={QUICK_ROUNDS} "
                        "(explicit options still win)")
    parser.add_argument("--seed", type=int, default=None, help="seed for the shuffling")
    args = parser.parse_args(argv)
    if args.calls is None:
        args.calls = QUICK_CALLS if args.quick else DEFAULT_CALLS
    if args.rounds is None:
        args.rounds = QUICK_ROUNDS if args.quick else DEFAULT_ROUNDS
    if args.calls < 1 or args.rounds < 1:
        parser.error("--calls and --rounds must be positive")

    configs = configurations()
    rng = random.Random(args.seed)
    results = {config: [] for config in configs}
    for round_no in range(1, args.rounds + 1):
        order = configs[:]
        rng.shuffle(order)
        for config in order:
            res = run_child(config, args.calls, WARMUP_CALLS)
            results[config].append(res)
            extra = ""
            if "flush_s" in res:
                extra = f" flush {res['flush_s']:.3f}s records {res['records']} lost {res['lost']}"
            print(f"round {round_no}/{args.rounds} {config:<24} {res['elapsed_s']:.4f}s{extra}",
                  file=sys.stderr, flush=True)
    report(results, configs, args)


if __name__ == "__main__":
    main()
