"""How long a flight-recorder snapshot of a full window takes, and how long a traced thread
is held up meanwhile.

A fresh interpreter traces a tight loop into a flight recorder of SIZE (default 64M) until the
recorder has wrapped (its window is full), then, while a second traced thread runs its own
tight loop and notes the longest gap between two of its iterations, the main thread calls
``dump_flight_recorder()`` ROUNDS times.  Printed per snapshot: the API call's wall time, how
long the drain was held for the copy (``hold``), the file write (``write``), the bytes
copied, and the traced thread's longest gap during the snapshot against its longest gap in
an equally long stretch without one (``pause`` / ``baseline gap``: the scheduler and the
GIL's switch interval alone make gaps of several ms on a loaded machine).  Also printed: the
flush before the snapshot, the writing thread's CPU time, and the floor -- as many bytes
written to a new file of the same directory by plain 1 MiB ``write()`` calls (what
``dd bs=1M`` does) in the same process under the same load.

Usage::

    python benchmarks/flight_snapshot.py [--size 64M] [--rounds 3] [--processes 1] \\
        [--overflow drop] [BUILD_DIR ...]

Each BUILD_DIR is another build of ``infi_tracing`` (``setup.py build_ext --inplace`` in an
export of an older commit), put first on ``PYTHONPATH``; ``''`` is the installed package.
With several, each process's turn goes to each build in turn: a before/after in one run.
A build must return ``flush_ns`` and ``write_cpu_ns`` from ``flight_dump`` (older commits: add
them to the export first).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

CHILD_CODE = r'''
import json, os, sys, threading, time
import infi_tracing

size, rounds, overflow, workdir = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]

def f(a, b):
    return a

infi_tracing.set_sinks([])
infi_tracing.set_tracing(None, overflow=overflow, flight_recorder="300s," + size)
while infi_tracing.flight_recorder_stats()["evicted"] == 0:
    for i in range(200_000):
        f(i, i)

state = {"gap": 0.0, "run": True, "measure": False}
def ticker():
    last = time.perf_counter()
    while state["run"]:
        for i in range(100):
            f(i, i)
        now = time.perf_counter()
        if state["measure"] and now - last > state["gap"]:
            state["gap"] = now - last
        last = now

t = threading.Thread(target=ticker)
t.start()
time.sleep(0.2)
from infi_tracing.native import _core
from infi_tracing import _flight
results = []
for k in range(rounds):
    state["gap"], state["measure"] = 0.0, True
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < 0.3:
        time.sleep(0.01)  # the main thread idles: what the ticker sees without a snapshot
    baseline = state["gap"]
    state["gap"] = 0.0
    fd = os.open(os.path.join(workdir, "snap%d.itr" % k), os.O_WRONLY | os.O_CREAT, 0o600)
    t0 = time.perf_counter()
    info = _core.flight_dump(_flight._handle, fd)
    elapsed = time.perf_counter() - t0
    os.close(fd)
    pause = state["gap"]
    state["measure"] = False
    # the floor: as many bytes written to a new file of the same directory by
    # plain 1 MiB write()s (what dd does), under the same load (the ticker runs)
    chunk = b"\0" * (1 << 20)
    fd = os.open(os.path.join(workdir, "floor%d" % k), os.O_WRONLY | os.O_CREAT, 0o600)
    t0 = time.perf_counter()
    left = info["bytes"]
    while left > 0:
        left -= os.write(fd, chunk[:left])
    floor = time.perf_counter() - t0
    os.close(fd)
    results.append(dict(info, elapsed_s=elapsed, pause_s=pause, baseline_gap_s=baseline,
                        floor_s=floor))
state["run"] = False
t.join()
print(json.dumps(results))
'''


def run(path, size, rounds, overflow):
    """One child (PATH first on PYTHONPATH, or the installed package): its snapshots."""
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    if path:
        env["PYTHONPATH"] = path
    with tempfile.TemporaryDirectory(prefix="flight_snapshot_") as workdir:
        proc = subprocess.run([sys.executable, "-c", CHILD_CODE, size, str(rounds), overflow,
                               workdir], cwd=workdir, env=env, capture_output=True, text=True,
                              timeout=600)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr)
    return json.loads(proc.stdout.splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--size", default="64M")
    parser.add_argument("--rounds", type=int, default=3, help="snapshots per process")
    parser.add_argument("--processes", type=int, default=1,
                        help="processes per build, the builds' in turn")
    parser.add_argument("--overflow", choices=("drop", "block"), default="drop")
    parser.add_argument("builds", nargs="*", default=[""],
                        help="directories holding other builds (put first on PYTHONPATH); "
                             "'' or none: the installed package")
    args = parser.parse_args(argv)
    rows = []
    for p in range(1, args.processes + 1):
        for build in args.builds:
            for k, r in enumerate(run(build, args.size, args.rounds, args.overflow), 1):
                rows.append((build or "installed", p, k, r))
    print("Python %s, recorder %s (full), overflow=%s" % (sys.version.split()[0], args.size,
                                                         args.overflow))
    print("| build | process | snapshot | MiB written | records | total ms | flush ms "
          "| drain held ms (longest) | write ms | write CPU ms | floor ms "
          "| traced thread's longest gap ms | baseline gap ms |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for build, p, k, r in sorted(rows, key=lambda row: row[0]):
        print("| %s | %d | %d | %.1f | %d | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.2f "
              "| %.2f |" % (
                  build, p, k, r["bytes"] / 2**20, r["records"], r["elapsed_s"] * 1e3,
                  r["flush_ns"] / 1e6, r["hold_ns"] / 1e6, r["write_ns"] / 1e6,
                  r["write_cpu_ns"] / 1e6, r["floor_s"] * 1e3, r["pause_s"] * 1e3,
                  r["baseline_gap_s"] * 1e3))
    for build in args.builds:
        mine = [r for b, _, _, r in rows if b == (build or "installed")]
        print("%s: median total %.1f ms, flush %.1f ms, write %.1f ms, write CPU %.1f ms, "
              "floor %.1f ms" % (
                  build or "installed",
                  statistics.median(r["elapsed_s"] for r in mine) * 1e3,
                  statistics.median(r["flush_ns"] for r in mine) / 1e6,
                  statistics.median(r["write_ns"] for r in mine) / 1e6,
                  statistics.median(r["write_cpu_ns"] for r in mine) / 1e6,
                  statistics.median(r["floor_s"] for r in mine) * 1e3))


if __name__ == "__main__":
    main()
