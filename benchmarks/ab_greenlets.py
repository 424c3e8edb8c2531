"""A/B comparison of builds on compare.py's gevent greenlet workload, interleaved in one run.

The workload is ``run_greenlets(100, 40, 200)`` from ``_workload_code.py`` (100 gevent
greenlets running a 3-deep call chain, ``gevent.sleep(0)`` between batches: ~3.6 million
calls, ~16,000 switches), after a warm-up of ``run_greenlets(10, 2, 10)``. Each argument is
``[PATH:]BACKEND-MODE``: MODE ``binary`` records every call and return at TRACE_FUNC_NAME into
the binary file sink with ``overflow="block"``, ``filtered`` has tracing on with a filter that
answers NO_TRACE, ``flight`` records every call into the flight recorder alone (64 MiB, nothing
streamed); PATH is a directory holding another build of ``infi_tracing`` (e.g. one made
with ``setup.py build_ext --inplace`` in an export of an older commit), put first on
``PYTHONPATH``; without it, the installed package. The untraced baseline is always run.
Every run is a fresh subprocess; rounds interleave all configurations. Prints, per
configuration, the median wall time (``perf_counter``) and thread CPU time (``thread_time``)
and their ratios to the baseline's medians.

Usage::

    python benchmarks/ab_greenlets.py [--rounds R] /tmp/old:monitoring-binary monitoring-binary
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH_DIR)
from _ab import interleaved  # noqa: E402

CHILD_CODE = r'''
import json, os, sys, time
sys.path.insert(0, sys.argv[3])
from _workload_code import run_greenlets
config, workdir = sys.argv[1], sys.argv[2]
if config != "baseline":
    import infi_tracing
    backend, _, mode = config.partition("-")
    infi_tracing.set_sinks([] if mode == "flight" else
                           ["binary://" + os.path.join(workdir, "trace.itr")])
    infi_tracing.set_tracing(None if mode in ("binary", "flight") else
                             (lambda frame: infi_tracing.NO_TRACE), backend=backend,
                             overflow="block",
                             flight_recorder="30s,64M" if mode == "flight" else None)
run_greenlets(10, 2, 10)
c0, t0 = time.thread_time(), time.perf_counter()
run_greenlets(100, 40, 200)
t1, c1 = time.perf_counter(), time.thread_time()
print(json.dumps({"wall": t1 - t0, "cpu": c1 - c0}))
'''


def run(path, config):
    """One measurement in a fresh interpreter; returns {"wall": s, "cpu": s}."""
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    if path:
        env["PYTHONPATH"] = path
    with tempfile.TemporaryDirectory(prefix="ab_greenlets_") as workdir:
        proc = subprocess.run([sys.executable, "-c", CHILD_CODE, config, workdir, BENCH_DIR],
                              cwd=workdir, env=env, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"{path or 'installed'}:{config} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("configs", nargs="+", help="[PATH:]BACKEND-MODE")
    args = parser.parse_args(argv)
    specs, results = interleaved(args.configs, args.rounds, run)
    base = {k: statistics.median(r[k] for r in results[specs[0]]) for k in ("wall", "cpu")}
    print(f"Python {sys.version.split()[0]}, run_greenlets(100, 40, 200), {args.rounds} rounds")
    print("| build | configuration | wall median s | wall ratio | CPU median s | CPU ratio |")
    print("|---|---|---:|---:|---:|---:|")
    for spec in specs:
        med = {k: statistics.median(r[k] for r in results[spec]) for k in ("wall", "cpu")}
        print(f"| {spec[0] or 'installed'} | {spec[1]} | {med['wall']:.4f} | "
              f"{med['wall'] / base['wall']:.2f}x | {med['cpu']:.4f} | "
              f"{med['cpu'] / base['cpu']:.2f}x |")


if __name__ == "__main__":
    main()
