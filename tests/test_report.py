"""report: calls, total, self, active times per function, exact across sleeps, busy loops,
threads, greenlets and recursion; its options; every trace format gives the same report."""

import pytest

from helpers import TIMING, analysis_json, record_trace, report_rows_by_name, run_cli

MS = 1_000_000
TOLERANCE = 2 * MS

# outer() spins 20 ms in its own code, then calls sleeper() (30 ms in time.sleep) and
# worker() (busy(15)); the program prints the times it measured around each call.
SLEEP_AND_BUSY = TIMING + """
def sleeper():
    time.sleep(0.03)
def worker():
    busy(15)
def outer():
    end = time.perf_counter() + 0.02
    while time.perf_counter() < end:
        pass
    timed(sleeper)
    timed(worker)
timed(outer)
"""
PRINT_TIMES = "print(*TIMES)"


def _measured(stdout):
    return [int(t) for t in stdout.split()]


def _close(trace_ns, measured_ns):
    return abs(trace_ns - measured_ns) < TOLERANCE


def test_total_and_self_of_sleep_and_busy_loop(tmp_path, backend):
    """Each function's total matches the time measured around its call; self leaves out
    its callees (outer's self is its own 20 ms loop)."""
    paths, out = record_trace(tmp_path, SLEEP_AND_BUSY, backend=backend, end=PRINT_TIMES)
    sleeper_ns, worker_ns, outer_ns = _measured(out)
    rows = report_rows_by_name(tmp_path, paths["binary"])
    outer, sleeper, worker = (rows["__main__." + n]["wall"] for n in ("outer", "sleeper",
                                                                        "worker"))
    assert _close(outer["total"], outer_ns)
    assert _close(sleeper["total"], sleeper_ns) and _close(sleeper["self"], sleeper_ns)
    assert _close(worker["total"], worker_ns)
    # outer's own loop spins 20 ms of wall time; at most what is left of outer once its
    # callees' measured times are taken out (timed's own bookkeeping is outer's callee)
    assert 20 * MS <= outer["self"] < outer_ns - sleeper_ns - worker_ns + TOLERANCE
    assert _close(rows["__main__.busy"]["wall"]["total"], worker_ns)


def test_threads_are_timed_apart(tmp_path):
    """Two threads running outer() at once: each thread's report has its own totals."""
    body = SLEEP_AND_BUSY.replace("timed(outer)", """
import threading
threads = [threading.Thread(target=timed, args=(outer,)) for _ in range(2)]
for t in threads: t.start()
for t in threads: t.join()
""")
    paths, out = record_trace(tmp_path, body, end=PRINT_TIMES)
    outer_times = sorted(_measured(out))[-2:]  # the threads interleave; outer takes longest
    report = analysis_json(tmp_path, "report", "--by", "thread", paths["binary"])
    threads = sorted(row["wall"]["total"] for row in report["rows"]
                     if row["calls"] >= 6)  # the two worker threads (timed, outer, busy...)
    assert len(threads) == 2
    assert all(_close(t, m) for t, m in zip(threads, outer_times, strict=True))
    rows = report_rows_by_name(tmp_path, paths["binary"])
    assert rows["__main__.outer"]["calls"] == 2
    assert _close(rows["__main__.outer"]["wall"]["total"], sum(outer_times))


GREENLET_SLEEPS = TIMING + """
import gevent
def f():
    gevent.sleep(0.05)
def other():
    busy(20)
a = gevent.spawn(timed, f)
b = gevent.spawn(other)
gevent.joinall([a, b])
"""


def test_greenlet_switched_out_is_not_active_nor_self(tmp_path):
    """A greenlet sleeping 50 ms in f while another runs: f's wall is the 50 ms, its active
    time and its self time are about 0."""
    paths, out = record_trace(tmp_path, GREENLET_SLEEPS, end=PRINT_TIMES,
                              setup="from gevent import monkey; monkey.patch_all()")
    (f_ns,) = _measured(out)
    f = report_rows_by_name(tmp_path, paths["binary"])["__main__.f"]
    assert f["calls"] == 1
    assert _close(f["wall"]["total"], f_ns) and f_ns >= 50 * MS
    assert f["active"]["total"] < TOLERANCE
    assert f["wall"]["self"] < TOLERANCE


RECURSION = TIMING + """
def fact(n):
    busy(2)
    return 1 if n == 0 else n * fact(n - 1)
timed(fact, 10)
"""


def test_recursion_total_counts_the_outermost_call(tmp_path):
    """A recursive function's total is its outermost calls' time, not the sum over every
    level; self and calls count every level."""
    paths, out = record_trace(tmp_path, RECURSION, end=PRINT_TIMES)
    (fact_ns,) = _measured(out)
    fact = report_rows_by_name(tmp_path, paths["binary"])["__main__.fact"]
    assert fact["calls"] == 11
    assert _close(fact["wall"]["total"], fact_ns)
    assert fact["wall"]["max"] == fact["wall"]["total"]
    assert fact["wall"]["self"] < fact["wall"]["total"]


def test_every_format_gives_the_same_report(tmp_path):
    """The same run written as binary, JSON lines and text: the same calls per function and
    the same totals (text times have microseconds: within 2 us a call)."""
    paths, _ = record_trace(tmp_path, SLEEP_AND_BUSY, formats=("binary", "jsonl", "text"))
    reports = {f: report_rows_by_name(tmp_path, p) for f, p in paths.items()}
    assert reports["binary"] == reports["jsonl"]
    binary, text = reports["binary"], reports["text"]
    assert sorted(text) == sorted(binary)
    for name, row in binary.items():
        assert text[name]["calls"] == row["calls"]
        assert abs(text[name]["wall"]["total"] - row["wall"]["total"]) <= 2000 * row["calls"]


def test_by_greenlet_sort_and_top(tmp_path):
    """--by greenlet gives a row per greenlet; --sort calls --top 1 keeps the one that made
    the most calls."""
    body = TIMING + """
import greenlet
def many():
    for _ in range(5):
        busy(0)
greenlet.greenlet(many).switch()
busy(0)
"""
    paths, _ = record_trace(tmp_path, body)
    rows = analysis_json(tmp_path, "report", "--by", "greenlet", paths["binary"])["rows"]
    assert len(rows) == 2
    top = analysis_json(tmp_path, "report", "--by", "greenlet", "--sort", "calls", "--top",
                        "1", paths["binary"])["rows"]
    assert [r["calls"] for r in top] == [max(r["calls"] for r in rows)] == [6]


def test_text_output_has_a_row_per_function(tmp_path):
    """The text report has a header and a row per function, largest total first."""
    paths, _ = record_trace(tmp_path, SLEEP_AND_BUSY)
    proc = run_cli(tmp_path, "report", paths["binary"])
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[1].split() == ["calls", "total", "self", "mean", "p50", "p95", "max",
                                "function"]
    assert [line.split()[-1] for line in lines[2:4]] == ["__main__.timed", "__main__.outer"]


def test_unreadable_input_exits_1_after_reporting_the_rest(tmp_path):
    """A file that is not a trace: its error names it and the byte offset; the other
    file's report is still printed, and the exit code is 1."""
    paths, _ = record_trace(tmp_path, SLEEP_AND_BUSY)
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"\x00\x01junk")
    proc = run_cli(tmp_path, "report", paths["binary"], bad)
    assert proc.returncode == 1
    assert "__main__.outer" in proc.stdout
    assert "%s: is not a trace: it starts with" % bad in proc.stderr
    assert "at byte 0" in proc.stderr


@pytest.mark.parametrize("args, message", [
    (["--by", "color"], "invalid choice"),
    (["--top", "0"], "expected a number >= 1"),
    (["--from", "yesterday"], "--from"),
])
def test_bad_options_are_named(tmp_path, args, message):
    """A bad option value gets an error naming it, exit code 2."""
    paths, _ = record_trace(tmp_path, "pass")
    proc = run_cli(tmp_path, "report", *args, paths["binary"])
    assert proc.returncode == 2
    assert message in proc.stderr
