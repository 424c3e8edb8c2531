"""diff A B: per function the change in calls and total/self time; --fail-if-slower."""

import json

import pytest

from helpers import TIMING, analysis_json, record_trace, run_cli

# work(ms) is the function that gets slower; steady() does not change; extra() is new in B.
PROGRAM = TIMING + """
def work(ms):
    busy(ms)
def steady():
    busy(5)
def extra():
    pass
for _ in range(%d):
    work(%d)
steady()
%s
"""


def _traces(tmp_path, a=(2, 5, ""), b=(3, 20, "extra()")):
    """Traces of PROGRAM run twice: A (2 calls of 5 ms) and B (3 calls of 20 ms, extra())."""
    out = []
    for name, (n, ms, tail) in (("a", a), ("b", b)):
        folder = tmp_path / name
        folder.mkdir()
        paths, _ = record_trace(folder, PROGRAM % (n, ms, tail))
        out.append(str(paths["binary"]))
    return out


def test_changes_per_function(tmp_path):
    """work: 2 -> 3 calls and its total at least 10 -> 60 ms; extra is new (no A side)."""
    a, b = _traces(tmp_path)
    rows = {row["name"]: row for row in analysis_json(tmp_path, "diff", a, b)["rows"]}
    work = rows["__main__.work"]
    assert work["calls"] == [2, 3] and work["d_calls"] == 1
    total_a, total_b = work["total"]
    # busy() spins to its perf_counter deadline; the trace's clock (TSC, calibrated) may read
    # a few us less over 10 ms: "at least" within 0.1%
    assert total_a >= 0.999 * 10e6 and total_b >= 0.999 * 60e6
    assert work["d_total"] == total_b - total_a
    assert work["pct_total"] == pytest.approx(100 * (total_b - total_a) / total_a)
    assert rows["__main__.extra"]["calls"] == [None, 1]


def test_biggest_change_comes_first(tmp_path):
    """The text diff lists (all), then the functions by the size of their total's change."""
    a, b = _traces(tmp_path)
    rows = analysis_json(tmp_path, "diff", a, b)["rows"]
    expected = [r["name"] for r in sorted(rows, key=lambda r: (-abs(r["d_total"]), r["name"]))]
    proc = run_cli(tmp_path, "diff", a, b)
    assert proc.returncode == 0, proc.stderr
    names = [line.rsplit(None, 1)[1] for line in proc.stdout.splitlines()[1:]]
    assert names == ["(all)"] + expected
    assert names.index("__main__.work") < names.index("__main__.steady")


def test_fail_if_slower_exits_1_and_names_the_function(tmp_path):
    """--fail-if-slower 50: work got about 9000% slower, so exit 1 naming it (a ratio
    no stall of A's 2 ms on a loaded machine can hide)."""
    a, b = _traces(tmp_path, a=(2, 1, ""), b=(3, 60, "extra()"))
    proc = run_cli(tmp_path, "diff", "--fail-if-slower", "50", a, b)
    assert proc.returncode == 1
    assert "__main__.work is +" in proc.stderr


def test_fail_if_slower_passes_when_nothing_grew(tmp_path):
    """A trace against itself: nothing grew, so even --fail-if-slower 0 exits 0."""
    a, _ = _traces(tmp_path)
    proc = run_cli(tmp_path, "diff", "--fail-if-slower", "0", a, a)
    assert proc.returncode == 0, proc.stderr + proc.stdout


def test_min_total_ignores_noise(tmp_path):
    """A function under --min-total on both sides cannot fail the run, however much it grew."""
    a, b = _traces(tmp_path, a=(2, 1, ""), b=(2, 3, ""))
    proc = run_cli(tmp_path, "diff", "--fail-if-slower", "10", "--min-total", "1s", a, b)
    assert proc.returncode == 0, proc.stderr


def test_saved_report_is_a_baseline(tmp_path):
    """A report --json saved from A works as A: the same diff as from the trace."""
    a, b = _traces(tmp_path)
    proc = run_cli(tmp_path, "report", "--json", a)
    baseline = tmp_path / "baseline.json"
    baseline.write_text(proc.stdout)
    from_trace = analysis_json(tmp_path, "diff", a, b)
    from_saved = analysis_json(tmp_path, "diff", baseline, b)
    assert from_saved == from_trace
    assert json.loads(baseline.read_text())["by"] == "function"
