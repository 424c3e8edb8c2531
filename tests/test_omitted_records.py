"""The reader and "omitted" records (slow-call retention, native/it_slow.h): their time
counts as the call's children's, in every format; a damaged one is a clear error."""

import json

import pytest

from binary_files import CALL, RETURN, code_chunk, omitted, packed_chunk, trace
from helpers import report_rows_by_name, run_cli, write

pytestmark = pytest.mark.native  # make test-asan runs these

# f runs from 1000 to 11000 ns and calls g (2000 to 4000); children left out: 3 calls,
# 5000 ns of wall time (4000 active).  f's self time: 10000 - 2000 - 5000 = 3000 ns.
KEPT = [(CALL, 1, 1000, 0, 1), (CALL, 2, 2000, 1, 1), (RETURN, 2, 4000, 1, 1),
        omitted(3, 5000, 4000, ts=11000, depth=0), (RETURN, 1, 11000, 0, 1)]


def _binary(tmp_path, entries):
    path = tmp_path / "t.itr"
    path.write_bytes(trace(code_chunk(1, "f"), code_chunk(2, "g"), packed_chunk(entries)))
    return path


def test_binary_omitted_record_keeps_self_time_exact(tmp_path):
    """report subtracts an omitted record's time from its call's self time."""
    rows = report_rows_by_name(tmp_path, _binary(tmp_path, KEPT))
    assert rows["mod.f"]["wall"]["self_wall"] == 3000
    assert rows["mod.f"]["active"]["self"] == 10000 - 2000 - 4000
    assert rows["mod.f"]["wall"]["total"] == 10000


def test_decode_writes_omitted_records_in_every_format(tmp_path):
    """decode shows an omitted record as a text line and a JSON line, which read back alike."""
    path = _binary(tmp_path, KEPT)
    jsonl = run_cli(tmp_path, "decode", "--format", "jsonl", path).stdout.splitlines()
    record = json.loads(jsonl[3])
    assert {k: record[k] for k in ("event", "greenlet", "depth", "omitted_calls", "omitted_ns",
                                   "omitted_active_ns")} == \
        {"event": "omitted", "greenlet": 1, "depth": 0, "omitted_calls": 3, "omitted_ns": 5000,
         "omitted_active_ns": 4000}
    text = run_cli(tmp_path, "decode", path).stdout.splitlines()
    assert text[3].endswith(" g1 - omitted 3 calls [5000 ns]")
    write(tmp_path / "t.jsonl", "\n".join(jsonl) + "\n")
    write(tmp_path / "t.txt", "\n".join(text) + "\n")
    for name in ("t.jsonl", "t.txt"):
        assert report_rows_by_name(tmp_path, name)["mod.f"]["wall"]["self_wall"] == 3000, name


def test_short_omitted_record_is_a_clear_error(tmp_path):
    """An omitted record without its payload is reported with its byte offset."""
    path = _binary(tmp_path, [(CALL, 1, 1000, 0, 1), omitted(3, 5000, 4000, size=40)])
    proc = run_cli(tmp_path, "decode", path)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "an omitted record of 40 bytes, expected 56" in proc.stderr
