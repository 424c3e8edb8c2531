"""The native trace reader (infi_tracing.analysis.Reader): records, durations, filters."""

import datetime

import pytest

from infi_tracing.analysis import Reader

from binary_files import (
    CALL,
    LOST,
    RETURN,
    SWITCH,
    WALL_OFFSET,
    code_chunk,
    packed_chunk,
    raw,
    records_chunk,
    trace,
)
from helpers import FORKED_CHILD, TWO_GREENLETS, run_interpreter, run_traced_program
from reference_binary import read_records

pytestmark = pytest.mark.native  # make test-asan runs these

ANALYSIS_KEYS = ("duration_ns", "active_ns", "self_ns")

# Values, exceptions, generators, a thread, a log record and two greenlets, in one program.
EVERYTHING = TWO_GREENLETS + """
import logging, threading
def inner(s, n):
    if n == 2:
        raise KeyError(s)
    return s * n
def outer(n):
    try:
        return inner("ab", n)
    except KeyError:
        return None
def gen():
    yield 1
    yield 2
for i in range(5):
    outer(i % 3)
list(gen())
t = threading.Thread(target=outer, args=(1,))
t.start(); t.join()
logging.getLogger("app").addHandler(infi_tracing.TraceLogHandler())
logging.getLogger("app").warning("hello %s", "there")
"""


def _binary_run(tmp_path, body, backend="auto", **source):
    run_traced_program(tmp_path, body, backend=backend,
                       sinks="infi_tracing.configure_sinks(['binary://%s/trace.itr'])" % tmp_path,
                       tracing_args="level=infi_tracing.TRACE_FUNC_PRIMITIVES, "
                                    "overflow='block', generators=True", **source)
    return tmp_path / "trace.itr"


def _without_analysis(records):
    return [{k: v for k, v in r.items() if k not in ANALYSIS_KEYS} for r in records]


def _read(path, **filters):
    reader = Reader([path], **filters)
    records = list(reader.records())
    assert reader.errors == []
    return records


def test_records_equal_the_reference_readers(tmp_path, backend):
    """Every record of a traced program reads back as the Python reference reader reads it."""
    path = _binary_run(tmp_path, EVERYTHING, backend)
    records = _read(path)
    reference = list(read_records(str(path)))
    assert _without_analysis(records) == reference
    events = {r["event"] for r in records}
    assert events >= {"call", "return", "exception", "resume", "yield", "log"}
    assert len({r["tid"] for r in records}) == 2 and len({r["greenlet"] for r in records}) >= 3


def test_forked_children_appending_to_one_file_read_back(tmp_path):
    """A parent and its forked child writing one file: both processes' records read back."""
    path = _binary_run(tmp_path, "def in_child():\n    sum(range(3))\n" + FORKED_CHILD +
                       "\nsum(range(3))\n")
    records = _read(path)
    assert _without_analysis(records) == list(read_records(str(path)))
    assert len({r["pid"] for r in records}) == 2


def test_durations_of_known_sleeps(tmp_path):
    """A 30 ms sleep in a callee: its return and its caller's carry >= 30 ms, the caller's
    self time is what it did besides."""
    path = _binary_run(tmp_path, """
import time
def leaf():
    time.sleep(0.03)
def caller():
    leaf()
caller()
""")
    returns = {r["qualname"]: r for r in _read(path) if r["event"] == "return"}
    leaf, caller = returns["leaf"], returns["caller"]
    assert 30_000_000 <= leaf["duration_ns"] < 200_000_000
    assert caller["duration_ns"] >= leaf["duration_ns"]
    assert caller["self_ns"] == caller["duration_ns"] - leaf["duration_ns"]
    assert leaf["active_ns"] == leaf["duration_ns"]  # no greenlet switch


def _write(tmp_path, data, name="t.itr"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _fg(tmp_path, *entries):
    """A trace of functions f (code 1) and g (code 2) of pid 100, thread 101."""
    return _write(tmp_path, trace(code_chunk(1, "f"), code_chunk(2, "g"),
                                  packed_chunk(list(entries))))


def test_duration_after_a_lost_gap_is_left_out(tmp_path):
    """A return after a 'lost N' record of its thread carries no duration."""
    path = _write(tmp_path, trace(code_chunk(1, "f"), packed_chunk([
        (CALL, 1, 1000, 0, 1), raw(LOST, ts=1500, count=7), (RETURN, 1, 2000, 0, 1)])))
    records = _read(path)
    assert [r["event"] for r in records] == ["call", "lost", "return"]
    assert records[1]["count"] == 7
    assert "duration_ns" not in records[2]


def test_active_time_leaves_out_switched_out_stretches(tmp_path):
    """Greenlet 1 switched out for 300 ns inside f: f's wall is 1000 ns, its active 700 ns."""
    path = _fg(tmp_path, (CALL, 1, 1000, 0, 1),
               raw(SWITCH, ts=1100, greenlet=2, code_id=1),
               raw(SWITCH, ts=1400, greenlet=1, code_id=2),
               (RETURN, 1, 2000, 0, 1))
    records = _read(path)
    assert records[1] == {"mono_ns": 1100, "time_ns": 1100 + WALL_OFFSET, "pid": 100,
                          "tid": 101, "event": "switch", "greenlet": 2, "from_greenlet": 1}
    assert (records[3]["duration_ns"], records[3]["active_ns"]) == (1000, 700)


def test_self_time_less_direct_callees(tmp_path):
    """f (1000 ns) calls g (400 ns): f's self time is 600 ns."""
    path = _fg(tmp_path, (CALL, 1, 1000, 0, 1), (CALL, 2, 1100, 1, 1), (RETURN, 2, 1500, 1, 1),
               (RETURN, 1, 2000, 0, 1))
    f = _read(path)[-1]
    assert (f["qualname"], f["duration_ns"], f["self_ns"]) == ("f", 1000, 600)


def test_concatenated_files_read_as_both(tmp_path):
    """`cat a.itr b.itr > c.itr`: the records of both, in order."""
    a = trace(code_chunk(1, "f"), packed_chunk([(CALL, 1, 1000, 0, 1), (RETURN, 1, 2000, 0, 1)]))
    b = trace(code_chunk(1, "g", pid=200),
              packed_chunk([(CALL, 1, 5000, 0, 1)], pid=200, tid=201))
    records = _read(_write(tmp_path, a + b))
    assert [(r["pid"], r["qualname"], r["event"]) for r in records] == [
        (100, "f", "call"), (100, "f", "return"), (200, "g", "call")]


def test_several_inputs_read_one_after_another(tmp_path):
    """Two files given together: the first's records, then the second's."""
    a = _fg(tmp_path, (CALL, 1, 1000, 0, 1))
    b = _write(tmp_path, trace(code_chunk(1, "g"), packed_chunk([(CALL, 1, 3000, 0, 1)])),
               "b.itr")
    reader = Reader([a, b])
    assert [r["qualname"] for r in reader.records()] == ["f", "g"]
    assert reader.function(1) == ("mod", "f", "/src/mod.py", 1)


def test_raw_records_chunk_with_values(tmp_path):
    """An older writer's RECORDS chunk with argument values reads like the reference."""
    path = _write(tmp_path, trace(code_chunk(1, "f", argnames=("a", "b")), records_chunk([
        raw(CALL, code_id=1, ts=10, values=("1", "'x'")),
        raw(RETURN, code_id=1, ts=30, values=("None",))])))
    records = _read(path)
    assert records[0]["args"] == {"a": "1", "b": "'x'"}
    assert (records[1]["retval"], records[1]["duration_ns"]) == ("None", 20)
    assert _without_analysis(records) == list(read_records(str(path)))


def _chain(tmp_path):
    """f calls g in greenlet 1; then g alone in greenlet 2, in thread 102, at 5000 ns."""
    return _write(tmp_path, trace(code_chunk(1, "f", file="/src/mod.py"),
                                  code_chunk(2, "g", module="other", file="/lib/other.py"),
                                  packed_chunk([(CALL, 1, 1000, 0, 1), (CALL, 2, 1100, 1, 1),
                                                (RETURN, 2, 1500, 1, 1), (RETURN, 1, 2000, 0, 1)]),
                                  packed_chunk([(CALL, 2, 5000, 0, 2), (RETURN, 2, 5100, 0, 2)],
                                               tid=102)))


def _names(path, **filters):
    return [(r["qualname"], r["event"]) for r in _read(path, **filters)]


def test_filter_depth(tmp_path):
    """depth=0 keeps the outermost calls only."""
    assert _names(_chain(tmp_path), depth=0) == [("f", "call"), ("f", "return"),
                                                 ("g", "call"), ("g", "return")]


def test_filter_include_module_glob(tmp_path):
    """include=["other"] keeps the functions of module other (a glob on module names)."""
    assert {n for n, _ in _names(_chain(tmp_path), include=["other"])} == {"g"}


def test_filter_exclude_file_glob(tmp_path):
    """exclude=["/lib/*"] drops the functions defined under /lib (a glob on file paths)."""
    assert {n for n, _ in _names(_chain(tmp_path), exclude=["/lib/*"])} == {"f"}


def test_filter_keeps_self_time_of_filtered_out_callees(tmp_path):
    """Filtering g out leaves f's self time as it is (pairing sees every record)."""
    f = _read(_chain(tmp_path), include=["mod"])[-1]
    assert (f["qualname"], f["self_ns"]) == ("f", 600)


def test_filter_tids_and_greenlets(tmp_path):
    """tids=[102] and greenlets=[2] each keep the second thread's records only."""
    path = _chain(tmp_path)
    expected = [("g", "call"), ("g", "return")]
    assert _names(path, tids=[102]) == expected
    assert _names(path, greenlets=[2]) == expected
    assert _names(path, pids=[999]) == []


def test_filter_time_in_seconds_into_the_trace(tmp_path):
    """start="0.000003" (3 us after the first record) keeps the records from 4000 ns on."""
    assert _names(_chain(tmp_path), start="0.000003") == [("g", "call"), ("g", "return")]


def test_filter_wall_time_iso(tmp_path):
    """end= an ISO wall time keeps the records up to it."""
    stamp = datetime.datetime.fromtimestamp((WALL_OFFSET + 3000) / 1e9, datetime.timezone.utc)
    end = stamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert [n for n, _ in _names(_chain(tmp_path), end=end)] == ["f", "g", "g", "f"]


def test_bad_filter_value_names_the_argument():
    """A time that is neither ISO nor seconds: ValueError naming the argument."""
    with pytest.raises(ValueError, match="start: expected a time"):
        Reader(["x"], start="yesterday")


def test_error_of_one_input_does_not_stop_the_others(tmp_path):
    """A file that is not a trace is reported with its path; the next file is read."""
    bad = _write(tmp_path, b"hello world\n", "bad.txt")
    good = _fg(tmp_path, (CALL, 1, 1000, 0, 1))
    reader = Reader([bad, tmp_path / "missing.itr", good])
    assert [r["qualname"] for r in reader.records()] == ["f"]
    (p1, o1, m1), (p2, o2, m2) = reader.errors
    assert (p1, o1) == (str(bad), 0) and "is not a trace: it starts with \"hello world" in m1
    assert p2 == str(tmp_path / "missing.itr") and "cannot open" in m2


def test_count_is_the_number_of_records_passing_the_filters(tmp_path):
    """count() reads in C what records() would yield, under the same filters."""
    path = _chain(tmp_path)
    assert Reader([path], depth=0).count() == len(_read(path, depth=0)) == 4


def test_a_chunk_bigger_than_the_read_buffer(tmp_path):
    """A record with a 5 MiB value (more than the 4 MiB buffer) is read whole."""
    value = "x" * (5 << 20)
    path = _write(tmp_path, trace(code_chunk(1, "f", argnames=("a",)), records_chunk([
        raw(CALL, code_id=1, ts=10, values=(value,))])))
    [record] = _read(path)
    assert record["args"] == {"a": value}


def test_standard_input_is_read_once(tmp_path):
    """"-" reads standard input to its end (a pipe: nothing seeks)."""
    path = _chain(tmp_path)
    proc = run_interpreter(tmp_path, "-c", "from infi_tracing.analysis import Reader; "
                           "print(Reader(['-']).count())", input=path.read_bytes(), text=False)
    assert proc.returncode == 0 and proc.stdout == b"6\n", proc.stderr
