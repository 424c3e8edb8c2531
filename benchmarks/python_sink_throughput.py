"""Records per second the drain hands to a Python sink that only counts them.

    python benchmarks/python_sink_throughput.py [--calls N]

300,000 traced calls (600,000 records), overflow="block", one Python sink;
the time from set_tracing() to the end of flush_tracing().  To compare two
builds, put each first on PYTHONPATH (an in-place build: `python setup.py
build_ext --inplace` in a checkout of the commit) and run them in turns.
"""
import argparse
import time

import infi_tracing


class Count:
    """A Python sink that counts what it is handed."""

    n = 0

    def write(self, batch):
        Count.n += len(batch)

    def flush(self):
        pass

    def close(self):
        pass


def f(i):
    return i


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300000)
    calls = parser.parse_args().calls
    infi_tracing.set_sinks([Count()])
    t0 = time.perf_counter()
    infi_tracing.set_tracing(overflow="block", filter=lambda fr: fr.f_code.co_name == "f")
    for i in range(calls):
        f(i)
    infi_tracing.flush_tracing()
    t1 = time.perf_counter()
    infi_tracing.unset_tracing()
    print("%.3f s, %d records, %.0f records/s" % (t1 - t0, Count.n, Count.n / (t1 - t0)))


if __name__ == "__main__":
    main()
