"""A small gevent program to record and read back (README, "Reading a trace").

Three workers handle two keys each; fetching yields to the other greenlets,
and worker 2 also crunches numbers without yielding for ~15 ms (it blocks the
hub).  Record it with

    python -m infi_tracing run --include examples/trace_reading.py \\
        --sink binary:///tmp/reading.itr examples/trace_reading.py
"""

import time

import gevent


def parse(line):
    return line.split(",")


def fetch(key):
    gevent.sleep(0.002 * key)  # yields to the other greenlets
    return key


def crunch(n):
    deadline = time.perf_counter() + 0.015  # busy: no yield, the hub waits
    while time.perf_counter() < deadline:
        pass
    return n


def handle(worker, key):
    value = fetch(key)
    if worker == 2:
        crunch(key)
    return parse("%d,%d" % (worker, value))


def worker(worker_id):
    return [handle(worker_id, key) for key in (1, 2)]


def main():
    gevent.joinall([gevent.spawn(worker, w) for w in (1, 2, 3)])


if __name__ == "__main__":
    main()
