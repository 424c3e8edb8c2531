"""Record times: the TSC clock (where usable) and clock_gettime give the same time base."""

import datetime
import json

import pytest

from helpers import BACKENDS, run_python

PROGRAM = """
import json, time, infi_tracing
infi_tracing.tracing_output_to_file("trace.jsonl", format="jsonl")

def first():
    return 1

def second():
    return 2

t0 = time.monotonic_ns()
infi_tracing.set_tracing(lambda frame: frame.f_globals.get("__name__") == "__main__",
                         backend=%r)
first()
time.sleep(0.05)
second()
infi_tracing.unset_tracing()
t1 = time.monotonic_ns()
print(json.dumps({"t0": t0, "t1": t1, "wall": time.time_ns(),
                  "clock": infi_tracing.tracing_stats()["clock"]}))
"""


@pytest.mark.parametrize("clock", ["default", "monotonic"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_record_times_are_monotonic_nanoseconds(tmp_path, backend, clock):
    """mono_ns lies between time.monotonic_ns() before and after, in order, and a sleep
    between two calls shows as at least that long; wall times agree with time.time_ns()."""
    env = {"INFI_TRACING_CLOCK": "monotonic"} if clock == "monotonic" else {}
    proc = run_python(tmp_path, PROGRAM % backend, env=env)
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout.splitlines()[-1])
    assert info["clock"] in (("monotonic",) if clock == "monotonic" else ("tsc", "monotonic"))
    records = [json.loads(line) for line in (tmp_path / "trace.jsonl").read_text().splitlines()]
    calls = {r["qualname"]: r for r in records if r["event"] == "call"}
    assert set(calls) == {"first", "second"}
    stamps = [r["mono_ns"] for r in records]
    assert stamps == sorted(stamps)
    assert info["t0"] <= stamps[0] and stamps[-1] <= info["t1"]
    gap = calls["second"]["mono_ns"] - calls["first"]["mono_ns"]
    assert 50_000_000 <= gap < 5_000_000_000
    when = datetime.datetime.strptime(calls["second"]["time"], "%Y-%m-%dT%H:%M:%S.%fZ")
    wall = when.replace(tzinfo=datetime.timezone.utc).timestamp()
    assert abs(wall - info["wall"] / 1e9) < 5
