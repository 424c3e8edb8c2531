"""What a greenlet switch costs with infi_tracing's greenlet.settrace callback installed.

``greenlets`` gevent greenlets each run ``gevent.sleep(0)`` ``sleeps`` times and nothing else
(two switches per sleep: to the hub and back).  Modes: ``baseline`` (untraced), ``filtered``
(tracing on, the filter returns NO_TRACE for everything, so only the switch callback and the
hooks' filtered path run), ``filtered-nohook`` (the same with ``greenlet.settrace(None)`` after
``set_tracing``: the callback's own cost is the difference of the two).  Prints the traced
thread's CPU time (``time.thread_time()``) and wall time of the timed part as JSON.

Usage::

    python benchmarks/greenlet_switch.py MODE [GREENLETS [SLEEPS]]
"""

import json
import os
import sys
import tempfile
import time

import gevent
import greenlet

import infi_tracing
from infi_tracing import NO_TRACE


def worker(sleeps):
    sleep = gevent.sleep
    for _ in range(sleeps):
        sleep(0)


def run(greenlets, sleeps):
    gevent.joinall([gevent.spawn(worker, sleeps) for _ in range(greenlets)])


def main(argv):
    mode = argv[0]
    greenlets = int(argv[1]) if len(argv) > 1 else 100
    sleeps = int(argv[2]) if len(argv) > 2 else 200
    with tempfile.TemporaryDirectory(prefix="greenlet_switch_") as workdir:
        if mode != "baseline":
            infi_tracing.configure_sinks(["binary://" + os.path.join(workdir, "t.bin")])
            infi_tracing.set_tracing(lambda frame: NO_TRACE, overflow="block")
            if mode == "filtered-nohook":
                greenlet.settrace(None)
        run(10, 10)  # warm-up: code objects decided, the switch callback installed
        cpu, wall = time.thread_time(), time.perf_counter()
        run(greenlets, sleeps)
        cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
        if mode != "baseline":
            infi_tracing.unset_tracing()
    print(json.dumps({"mode": mode, "switches": 2 * greenlets * sleeps, "cpu_s": cpu,
                      "wall_s": wall}))


if __name__ == "__main__":
    main(sys.argv[1:])
