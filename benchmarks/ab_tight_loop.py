"""A/B comparison of tight_loop configurations between builds, interleaved in one run.

Each argument is ``[PATH:]CONFIG``: CONFIG is a ``tight_loop.py`` configuration
(``monitoring-binary``, ``evalframe-filtered``...), run by this interpreter with PATH (a
directory holding another build of ``infi_tracing``, e.g. one made with ``setup.py
build_ext --inplace`` in an export of an older commit) first on ``PYTHONPATH``; without
PATH, the installed package.  The untraced baseline is always run.  Rounds interleave
every configuration, each run in a fresh subprocess (the same child as tight_loop.py);
ratios are to the baseline's median (and min to min), which on a shared, noisy machine
is steadier than comparing runs made minutes apart.  ``--cpu`` times the loop with
``time.thread_time()`` instead of ``time.perf_counter()``: the traced thread's own CPU time,
without time it is descheduled or waits for the drain (``overflow="block"``).

Usage::

    python benchmarks/ab_tight_loop.py [--calls N] [--rounds R] /tmp/old:monitoring-binary \\
        monitoring-binary monitoring-filtered
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
from tight_loop import CHILD_CODE, WARMUP_CALLS


def run(path, config, calls, cpu=False):
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    if path:
        env["PYTHONPATH"] = path
    with tempfile.TemporaryDirectory(prefix="ab_tight_loop_") as workdir:
        proc = subprocess.run(
            [sys.executable, "-c", CHILD_CODE.replace("time.perf_counter()", "time.thread_time()")
             if cpu else CHILD_CODE, config, str(calls), str(WARMUP_CALLS), workdir],
            cwd=workdir, env=env, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"{path or 'installed'}:{config} failed:\n{proc.stderr}")
    line = [x for x in proc.stdout.splitlines() if x.startswith("{")][-1]
    return json.loads(line)["elapsed_s"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--calls", type=int, default=2_000_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--cpu", action="store_true", help="thread CPU time instead of wall time")
    parser.add_argument("configs", nargs="+", help="[PATH:]CONFIG")
    args = parser.parse_args(argv)
    specs, times = interleaved(args.configs, args.rounds,
                               lambda path, config: run(path, config, args.calls, args.cpu))
    base = times[("", "baseline")]
    print(f"Python {sys.version.split()[0]}, {args.calls} calls, {args.rounds} rounds, "
          f"{'thread CPU' if args.cpu else 'wall'} time")
    print("| build | configuration | median s | ratio (median) | ratio (min) |")
    print("|---|---|---:|---:|---:|")
    for spec in specs:
        t = times[spec]
        print(f"| {spec[0] or 'installed'} | {spec[1]} | {statistics.median(t):.4f} | "
              f"{statistics.median(t) / statistics.median(base):.2f}x | "
              f"{min(t) / min(base):.2f}x |")


if __name__ == "__main__":
    main()
