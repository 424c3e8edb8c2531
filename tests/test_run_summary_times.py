"""run's exit summary lists the top functions by total and by self time as well as by calls
(issue #11, item 3): times the drain adds up from its pairing of calls with their exits."""

import re

import pytest

from helpers import run_cli, summary_table, write

pytestmark = pytest.mark.native

UNITS = {"ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9}
MS = 1e6


def _times(stderr, by):
    """{function: ns} of one time table of the summary (its text, e.g. "50.288 ms")."""
    times = {}
    for line in summary_table(stderr, by):
        value, unit, name = re.match(r"\s+([\d.]+) (ns|us|ms|s)  (\S+)$", line).groups()
        times[name] = float(value) * UNITS[unit]
    return times


def _run(tmp_path, program, backend="auto"):
    write(tmp_path / "prog.py", program)
    # a binary file alone shows no durations: the summary has the drain pair calls anyway
    proc = run_cli(tmp_path, "run", "--backend", backend, "--sink",
                   "binary://%s" % (tmp_path / "t.itr"), "--include", "__main__", "prog.py")
    assert proc.returncode == 0, proc.stderr
    return _times(proc.stderr, "total time"), _times(proc.stderr, "self time")


SLEEPS = """
import time
def leaf():
    time.sleep(0.025)
def caller():
    leaf()
    leaf()
caller()
"""


def test_summary_gives_total_and_self_time_of_known_sleeps(tmp_path, backend):
    """leaf sleeps 2 x 25 ms: 50 ms total and self; caller 50 ms total, ~0 self."""
    total, self_time = _run(tmp_path, SLEEPS, backend)
    assert total["__main__.leaf"] >= 50 * MS and self_time["__main__.leaf"] >= 50 * MS
    assert total["__main__.caller"] >= total["__main__.leaf"]
    assert self_time["__main__.caller"] < 2 * MS


ONE_GREENLET = """
import gevent
def nap():
    gevent.sleep(0.05)
def worker():
    nap()
gevent.spawn(worker).join()
"""


def test_self_time_leaves_out_the_time_a_greenlet_was_switched_out(tmp_path):
    """A greenlet sleeping 50 ms in gevent.sleep: nap has 50 ms total but ~0 self time."""
    total, self_time = _run(tmp_path, ONE_GREENLET)
    assert total["__main__.nap"] >= 50 * MS and total["__main__.worker"] >= 50 * MS
    assert self_time.get("__main__.nap", 0) < 2 * MS
    assert self_time.get("__main__.worker", 0) < 2 * MS
