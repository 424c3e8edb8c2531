"""`decode` and `replay` on the native reader: several inputs, filters, durations,
replay --min-duration, a closed output."""

import json
import subprocess
import sys

import pytest

from binary_files import CALL, RETURN, code_chunk, packed_chunk, trace
from helpers import cli_env, run_cli

pytestmark = pytest.mark.native  # make test-asan runs these

# f (10 us) calls fast (100 ns), then slow (5 us) which calls quick (50 ns) and deep (2 us)
# which calls leaf (1 us); then other (20 ns) alone.
NAMES = ["f", "fast", "slow", "quick", "deep", "leaf", "other"]
CALLS = [(CALL, 1, 1000, 0), (CALL, 2, 1100, 1), (RETURN, 2, 1200, 1),
         (CALL, 3, 2000, 1), (CALL, 4, 2100, 2), (RETURN, 4, 2150, 2),
         (CALL, 5, 3000, 2), (CALL, 6, 3500, 3), (RETURN, 6, 4500, 3), (RETURN, 5, 5000, 2),
         (RETURN, 3, 7000, 1), (RETURN, 1, 11000, 0),
         (CALL, 7, 12000, 0), (RETURN, 7, 12020, 0)]


def _tree(tmp_path, name="t.itr", pid=100):
    path = tmp_path / name
    path.write_bytes(trace(*(code_chunk(i, n, pid=pid) for i, n in enumerate(NAMES, 1)),
                           packed_chunk([(*c, 1) for c in CALLS], pid=pid)))
    return path


def _lines(proc):
    assert proc.returncode == 0, proc.stderr
    return [line.split(" g1 ", 1)[1].rsplit(" /src/", 1)[0] for line in proc.stdout.splitlines()]


def test_replay_min_duration_keeps_slow_calls_and_their_ancestors(tmp_path):
    """--min-duration 1us: the calls that took >= 1 us, each ancestor shown once before its
    first kept descendant and closed after it; faster calls left out."""
    proc = run_cli(tmp_path, "replay", "--min-duration", "1us", _tree(tmp_path))
    assert _lines(proc) == [
        "> mod.f", "  > mod.slow", "    > mod.deep", "      > mod.leaf",
        "      < mod.leaf [1.000 us]", "    < mod.deep [2.000 us]", "  < mod.slow [5.000 us]",
        "< mod.f [10.000 us]"]


def test_replay_min_duration_shows_an_ancestor_faster_than_the_threshold(tmp_path):
    """--min-duration 1500ns keeps deep (2 us) but not leaf (1 us): leaf is left out, deep's
    ancestors are shown."""
    proc = run_cli(tmp_path, "replay", "--min-duration", "1500ns", _tree(tmp_path))
    assert _lines(proc) == ["> mod.f", "  > mod.slow", "    > mod.deep",
                            "    < mod.deep [2.000 us]", "  < mod.slow [5.000 us]",
                            "< mod.f [10.000 us]"]


def test_replay_without_min_duration_is_the_text_of_decode(tmp_path):
    """replay with no --min-duration writes what decode writes as text."""
    path = _tree(tmp_path)
    replay, decode = run_cli(tmp_path, "replay", path), run_cli(tmp_path, "decode", path)
    assert replay.returncode == decode.returncode == 0
    assert replay.stdout == decode.stdout and len(replay.stdout.splitlines()) == len(CALLS)


def test_replay_bad_min_duration_names_the_argument(tmp_path):
    """--min-duration 5 parsecs: exit status 2 and what was expected."""
    proc = run_cli(tmp_path, "replay", "--min-duration", "5 parsecs", _tree(tmp_path))
    assert proc.returncode == 2
    assert "--min-duration: expected a duration like 1ms" in proc.stderr


def test_decode_bad_time_names_the_argument(tmp_path):
    """--from yesterday: exit status 2 naming --from."""
    proc = run_cli(tmp_path, "decode", "--from", "yesterday", _tree(tmp_path))
    assert proc.returncode == 2 and "--from: expected a time" in proc.stderr


def test_decode_jsonl_carries_durations(tmp_path):
    """Every return of the JSON lines has its call's duration_ns."""
    proc = run_cli(tmp_path, "decode", "--format", "jsonl", _tree(tmp_path))
    records = [json.loads(line) for line in proc.stdout.splitlines()]
    assert {r["qualname"]: r["duration_ns"] for r in records if r["event"] == "return"} == {
        "f": 10000, "fast": 100, "slow": 5000, "quick": 50, "deep": 2000, "leaf": 1000,
        "other": 20}


def test_decode_several_inputs_with_a_filter(tmp_path):
    """Two files and --pid: the records of that process only, from whichever file."""
    a, b = _tree(tmp_path, "a.itr", pid=100), _tree(tmp_path, "b.itr", pid=200)
    both = run_cli(tmp_path, "decode", "--format", "jsonl", a, b)
    only = run_cli(tmp_path, "decode", "--format", "jsonl", "--pid", "200", a, b)
    assert [json.loads(x)["pid"] for x in both.stdout.splitlines()] == \
        [100] * len(CALLS) + [200] * len(CALLS)
    assert [json.loads(x)["pid"] for x in only.stdout.splitlines()] == [200] * len(CALLS)


def test_decode_depth_and_include_filters(tmp_path):
    """--depth 0 keeps f and other; --include on a module nobody has keeps nothing."""
    path = _tree(tmp_path)
    assert _lines(run_cli(tmp_path, "decode", "--depth", "0", path)) == [
        "> mod.f", "< mod.f [10.000 us]", "> mod.other", "< mod.other [20 ns]"]
    assert run_cli(tmp_path, "decode", "--include", "nobody", path).stdout == ""


def test_decode_into_a_closed_pipe_ends_quietly(tmp_path):
    """`decode BIG | head -1`: one line out, no 'Broken pipe' message, no traceback."""
    path = tmp_path / "big.itr"
    path.write_bytes(trace(code_chunk(1, "f"), *(
        packed_chunk([(CALL if i % 2 == 0 else RETURN, 1, 1000 + i, 0, 1)
                      for i in range(k, k + 20000)]) for k in range(0, 200000, 20000))))
    proc = subprocess.run("%s -m infi_tracing decode -q %s | head -1" % (sys.executable, path),
                          shell=True, cwd=tmp_path, capture_output=True, text=True, timeout=60,
                          env=cli_env())
    assert proc.returncode == 0
    assert len(proc.stdout.splitlines()) == 1 and proc.stderr == ""


def test_replay_many_greenlets_open_at_once(tmp_path):
    """1000 greenlets each inside a slow call at the same time: each slow call is shown with
    its caller (the open calls of every greenlet are held apart)."""
    n = 1000
    entries = [(CALL, 1, 10 + g, 0, g) for g in range(1, n + 1)]
    entries += [(CALL, 3, 2000 + g, 1, g) for g in range(1, n + 1)]
    entries += [e for g in range(1, n + 1)
                for e in ((RETURN, 3, 9000 + 2 * g, 1, g), (RETURN, 1, 9001 + 2 * g, 0, g))]
    path = tmp_path / "many.itr"
    path.write_bytes(trace(*(code_chunk(i, name) for i, name in enumerate(NAMES, 1)),
                           packed_chunk(entries)))
    proc = run_cli(tmp_path, "replay", "--min-duration", "5us", path)
    assert proc.returncode == 0, proc.stderr
    lines = [line.split(" ", 4)[4] for line in proc.stdout.splitlines()]
    assert len(lines) == 4 * n
    assert lines[:4] == ["> mod.f /src/mod.py:1", "  > mod.slow /src/mod.py:1",
                         "  < mod.slow [%.3f us] /src/mod.py:1" % ((9002 - 2001) / 1000),
                         "< mod.f [%.3f us] /src/mod.py:1" % ((9003 - 11) / 1000)]
