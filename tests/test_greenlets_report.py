"""greenlets: per-greenlet running time and switches, and the stretches that blocked the hub
with their call trees."""

import pytest

from binary_files import CALL, RETURN, code_chunk, packed_chunk, trace
from helpers import TIMING, analysis_json, record_trace, run_cli

MS = 1_000_000

# blocker() runs 50 ms without yielding (a busy loop: it blocks the hub); two polite
# greenlets take turns, yielding with gevent.sleep(0) after 1 ms of work each time.
HUB_BLOCKING = TIMING + """
import gevent
def step():
    busy(1)
def polite():
    for _ in range(3):
        step()
        gevent.sleep(0)
def blocker():
    busy(50)
gevent.joinall([gevent.spawn(polite), gevent.spawn(polite), gevent.spawn(blocker)])
"""


@pytest.fixture(name="blocking_trace")
def blocking_trace_fixture(tmp_path):
    """The binary trace of HUB_BLOCKING."""
    paths, _ = record_trace(tmp_path, HUB_BLOCKING)
    return paths["binary"]


def _by_first(result):
    return {g["first"]: g for g in result["greenlets"] if g["first"]}


def test_hub_blocking_greenlet_is_found_with_its_call_tree(tmp_path, blocking_trace):
    """The blocker's one stretch over 10 ms, at least 50 ms, with blocker -> busy below it
    (on a loaded machine a polite 1 ms step may pass 10 ms too: not counted here)."""
    result = analysis_json(tmp_path, "greenlets", blocking_trace)
    (stretch,) = [s for s in result["stretches"]
                  if result["greenlets"][s["greenlet"]]["first"] == "__main__.blocker"]
    glet = result["greenlets"][stretch["greenlet"]]
    assert glet["first"] == "__main__.blocker" and glet["blocked"] == 1
    assert stretch["duration_ns"] >= 50 * MS
    tree = [(n["name"], n["parent"], n["calls"]) for n in stretch["tree"]]
    assert tree == [("__main__.blocker", -1, 1), ("__main__.busy", 0, 1)]
    assert stretch["tree"][1]["total"] >= 50 * MS


def test_running_time_and_switches_per_greenlet(tmp_path, blocking_trace):
    """The polite greenlets were switched in at least 3 times each and ran at least their
    3 ms of work, less than the blocker's 50 ms (--threshold 40ms: a loaded machine may
    stretch a 1 ms step past 10 ms)."""
    glets = analysis_json(tmp_path, "greenlets", "--threshold", "40ms",
                          blocking_trace)["greenlets"]
    polite = [g for g in glets if g["first"] == "__main__.polite"]
    blocker = _by_first({"greenlets": glets})["__main__.blocker"]
    assert len(polite) == 2 and blocker["running_ns"] >= 50 * MS
    for g in polite:
        assert g["switches"] >= 3 and g["blocked"] == 0
        assert 3 * MS <= g["running_ns"] < blocker["running_ns"]


def test_running_time_fits_in_the_lifetime(tmp_path, blocking_trace):
    """No greenlet ran longer than it lived (a switch away ends its lifetime too)."""
    for g in analysis_json(tmp_path, "greenlets", blocking_trace)["greenlets"]:
        assert g["end_ns"] - g["start_ns"] >= g["running_ns"], g


def test_threshold_above_the_stretch_reports_none(tmp_path, blocking_trace):
    """--threshold 1s: no stretch is that long."""
    result = analysis_json(tmp_path, "greenlets", "--threshold", "1s", blocking_trace)
    assert result["stretches"] == [] and result["threshold_ns"] == 1_000_000_000


def test_text_output_shows_the_stretch(tmp_path, blocking_trace):
    """The text output names the blocking greenlet, its first function and the tree."""
    proc = run_cli(tmp_path, "greenlets", blocking_trace)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert "stretches ran over 10.000 ms without yielding" in lines[0]
    at = next(i for i, line in enumerate(lines) if "first __main__.blocker) ran " in line)
    assert lines[at + 1].endswith("  __main__.blocker")
    assert lines[at + 2].endswith("`-__main__.busy")


def test_bad_threshold_is_named(tmp_path, blocking_trace):
    """A threshold that is not a duration: an error naming --threshold, exit code 2."""
    proc = run_cli(tmp_path, "greenlets", "--threshold", "soon", blocking_trace)
    assert proc.returncode == 2 and "--threshold" in proc.stderr


def test_hub_waiting_for_events_is_not_blocking(tmp_path):
    """A greenlet sleeping 50 ms leaves the (untraced) hub waiting in its event loop: that is
    not a stretch that blocked anything, unless --include-hub asks for the hub's too."""
    paths, _ = record_trace(tmp_path, "import gevent\ndef nap():\n    gevent.sleep(0.05)\n"
                                      "gevent.spawn(nap).join()\n")
    assert analysis_json(tmp_path, "greenlets", paths["binary"])["stretches"] == []
    result = analysis_json(tmp_path, "greenlets", "--include-hub", paths["binary"])
    (stretch,) = [s for s in result["stretches"] if s["duration_ns"] >= 45 * MS]
    hub = result["greenlets"][stretch["greenlet"]]
    assert hub["hub"] and hub["first"] is None


def _bucket(pid, tid, key, nbuckets=1024):
    """The hash bucket of it_glets.h's table (1024 buckets before it first grows)."""
    mask = (1 << 64) - 1
    h = (pid * 0x9E3779B97F4A7C15 ^ tid * 0xC2B2AE3D27D4EB4F ^ key * 0x165667B19E3779F9) & mask
    return (h ^ h >> 29) & (nbuckets - 1)


def test_greenlet_sharing_the_thread_hash_bucket(tmp_path):
    """Greenlets hashed into their thread's bucket are each one row, with their switches."""
    # The thread's key (pid, tid, and the greenlet id 0xFFFFFFFF once, the thread kind bit
    # now); greenlets in its bucket, put among 200 others, and each of them run twice.
    sharing = [g for key in (0xFFFFFFFF, 1 << 32)
               for g in [g for g in range(1000, 100_000)
                         if _bucket(100, 101, g) == _bucket(100, 101, key)][:2]]
    order = list(range(1, 201))
    for at, g in zip((5, 70, 130, 190), sharing, strict=True):
        order.insert(at, g)
    order += sharing
    entries, ts = [], 0
    for g in order:
        entries += [(CALL, 1, ts + 1000, 0, g), (RETURN, 1, ts + 2000, 0, g)]
        ts += 2000
    path = tmp_path / "t.itr"
    path.write_bytes(trace(code_chunk(1, "f"), packed_chunk(entries)))
    glets = analysis_json(tmp_path, "greenlets", path)["greenlets"]
    assert sorted(g["greenlet"] for g in glets) == sorted(set(order))
    assert {g["greenlet"]: g["switches"] for g in glets} == {
        g: 2 if g in sharing else 1 for g in order}
