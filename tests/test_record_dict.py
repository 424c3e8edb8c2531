"""One decoding of records into dicts, shared by the drain (Python sinks) and binary files."""

import os
from types import SimpleNamespace

import infi_tracing
from infi_tracing import _records
from infi_tracing.analysis import Reader

_CODE = ("m", "f", "/m.py", 3, ["a", "b"])


def _traced(a, b=2):
    return a + b


def test_event_names_are_indexed_by_the_native_numbers():
    """EVENT_NAMES[IT_EV_*] names each event, 0 (the ring's filler) none."""
    assert _records.EVENT_NAMES[_records.CALL] == "call"
    assert _records.EVENT_NAMES[_records.LOG] == "log"
    assert _records.EVENT_NAMES.index("exception") == _records.EXCEPTION == 3
    assert _records.EVENT_NAMES[0] is None


def test_record_dict_gives_a_calls_arguments_by_name():
    """A call's values become args keyed by the code's argument names."""
    rec = _records.record_dict(_records.CALL, 10, 5, 1, 2, 7, 0, _CODE, ["1", "2"])
    assert rec == {"mono_ns": 10, "time_ns": 15, "pid": 1, "tid": 2, "event": "call",
                   "greenlet": 7, "depth": 0, "module": "m", "qualname": "f", "file": "/m.py",
                   "line": 3, "args": {"a": "1", "b": "2"}}


def test_record_dict_marks_an_exception_without_text():
    """An exception record stored with no value reads "?"; a packed one (None) has no key."""
    assert _records.record_dict(_records.EXCEPTION, 0, 0, 1, 1, 1, 0, _CODE, [])[
        "exception"] == "?"
    assert "exception" not in _records.record_dict(_records.EXCEPTION, 0, 0, 1, 1, 1, 0, _CODE)


def test_record_dict_of_a_lost_record_has_only_its_count():
    """A lost record carries its count and no function fields."""
    assert _records.record_dict(_records.LOST, 1, 1, 1, 1, count=9) == {
        "mono_ns": 1, "time_ns": 2, "pid": 1, "tid": 1, "event": "lost", "count": 9}


def test_binary_file_and_python_sink_see_the_same_dicts(tmp_path):
    """The trace reader reads a traced call back exactly as the drain hands it to a Python
    sink (durations included)."""
    path = tmp_path / "t.itr"
    from_sink = []
    sink = SimpleNamespace(write=from_sink.extend, flush=lambda: None, close=lambda: None)
    infi_tracing.set_sinks([sink, "binary://%s" % path])
    infi_tracing.set_tracing(lambda frame: frame.f_code is _traced.__code__,
                             level=infi_tracing.TRACE_FUNC_REPR)
    try:
        _traced(1)
    finally:
        infi_tracing.unset_tracing()
        infi_tracing.set_sinks(["stderr"])
    assert os.path.getsize(path) > 0
    from_file = [{k: v for k, v in r.items() if k not in ("active_ns", "self_ns")}
                 for r in Reader(path).records() if r.get("qualname") == "_traced"]
    from_sink = [r for r in from_sink if r.get("qualname") == "_traced"]
    assert [r["event"] for r in from_sink] == ["call", "return"]
    assert from_file == from_sink
