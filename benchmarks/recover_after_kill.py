"""Recovery ratio after SIGKILL under load (issue 12, item 2).

A child traces two threads calling ``leaf()`` as fast as they can (``overflow="block"``:
every call is committed to a ring), with the flight recorder in a crash-survival file, each
thread noting its count of calls after every batch of 1,000 in a side file (so a count read
there is at most what was committed).  After ``--seconds`` it is killed with SIGKILL;
``python -m infi_tracing recover`` turns its file into a trace, and the calls of each thread
found there are compared with the count it noted.  Rounds repeat the whole.

Usage::

    python benchmarks/recover_after_kill.py [--seconds 1.0] [--rounds 5] [--size 256M]
"""

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time

CHILD = """
import os, sys, threading
import infi_tracing
def only_main(frame):
    return frame.f_globals.get("__name__") == "__main__"
infi_tracing.set_tracing(filter=only_main, overflow="block", flight_recorder=
                         infi_tracing.FlightRecorder(size=int(sys.argv[1]), file="f-{pid}.flight"))
def leaf():
    pass
def loop(slot):
    fd = os.open("progress-%d" % slot, os.O_WRONLY | os.O_CREAT)
    done = 0
    while True:
        for _ in range(1000):
            leaf()
        done += 1000
        os.pwrite(fd, b"%20d %20d" % (done, threading.get_native_id()), 0)
threading.Thread(target=loop, args=(1,), daemon=True).start()
loop(0)
"""


def one_round(seconds, size):
    from infi_tracing.analysis import Reader, recover
    with tempfile.TemporaryDirectory(prefix="recover_after_kill_", dir="/dev/shm") as work:
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(size)], cwd=work)
        time.sleep(seconds)
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        committed = {}
        for slot in (0, 1):
            path = os.path.join(work, "progress-%d" % slot)
            fields = open(path, "rb").read().split() if os.path.exists(path) else []
            if len(fields) == 2:
                done, tid = map(int, fields)
                committed[tid] = done
        t0 = time.perf_counter()
        summary = recover(os.path.join(work, "f-%d.flight" % child.pid),
                          os.path.join(work, "out.itr"))
        recover_s = time.perf_counter() - t0
        found = {}
        for rec in Reader([os.path.join(work, "out.itr")]).records():
            if rec["event"] == "call" and rec.get("qualname") == "leaf":
                found[rec["tid"]] = found.get(rec["tid"], 0) + 1
    return committed, found, summary, recover_s


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--size", default="256M", help="the recorder's size (K, M, G)")
    args = parser.parse_args(argv)
    size = int(args.size[:-1]) << {"K": 10, "M": 20, "G": 30}[args.size[-1].upper()]
    worst = 1.0
    for i in range(args.rounds):
        committed, found, summary, recover_s = one_round(args.seconds, size)
        ratios = {tid: found.get(tid, 0) / done for tid, done in committed.items() if done}
        worst = min([worst, *ratios.values()])
        print("round %d: committed %s, recovered %s (ratio %s; %d ring records, %d blocks, "
              "%d torn; recover %.2f s)" % (
                  i + 1, sorted(committed.values()), sorted(found.values()),
                  " ".join("%.5f" % r for r in sorted(ratios.values())),
                  summary["ring_records"], summary["blocks"], summary["torn"], recover_s))
    print("worst ratio recovered/committed: %.5f (target >= 0.999)" % worst)


if __name__ == "__main__":
    main()
