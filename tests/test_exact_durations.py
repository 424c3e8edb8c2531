"""Durations written on text lines keep every nanosecond (issue 12, item 3): a report read
from a text or JSON-lines stream gives the self and total times a binary trace gives."""

import re

import pytest

from infi_tracing._format import format_duration

from binary_files import CALL, RETURN, code_chunk, omitted, packed_chunk, trace
from helpers import report_rows_by_name, run_cli, write

pytestmark = pytest.mark.native  # make test-asan runs these

# f lasts 1.234567891 s and calls g (1.099999999 s) and h (1.5 ms + 456 ns); 3 calls left
# out took 123456789 ns.  With durations rounded to 4 digits on the lines, f's self time
# (9,610,647 ns) was read back from text as 10,043,211 (4.5% more).
CALLS = [(CALL, 1, 1000, 0, 1), (CALL, 2, 2000, 1, 1), (RETURN, 2, 1_100_001_999, 1, 1),
         (CALL, 3, 1_100_002_000, 1, 1), (RETURN, 3, 1_101_502_456, 1, 1),
         omitted(3, 123_456_789, 100_000_000, ts=1_234_568_891, depth=0),
         (RETURN, 1, 1_234_568_891, 0, 1)]


def _trace(tmp_path):
    path = tmp_path / "t.itr"
    path.write_bytes(trace(code_chunk(1, "f"), code_chunk(2, "g"), code_chunk(3, "h"),
                           packed_chunk(CALLS)))
    return path


def _rows(cwd, path):
    return {name: (row["wall"]["total"], row["wall"]["self_wall"])
            for name, row in report_rows_by_name(cwd, path).items()}


@pytest.mark.parametrize("fmt", ["text", "jsonl"])
def test_report_of_a_decoded_stream_matches_the_binary_trace(tmp_path, fmt):
    """report on decode's text or JSON lines gives every function's binary total and self ns."""
    path = _trace(tmp_path)
    proc = run_cli(tmp_path, "decode", "--format", fmt, path)
    assert proc.returncode == 0, proc.stderr
    write(tmp_path / ("t." + fmt), proc.stdout)
    expected = _rows(tmp_path, path)
    assert expected["mod.f"] == (1_234_567_891, 1_234_567_891 - 1_099_999_999 - 1_500_456
                                 - 123_456_789)
    assert _rows(tmp_path, "t." + fmt) == expected


def test_decode_writes_every_nanosecond_of_a_duration(tmp_path):
    """decode's text lines (it_lines.h, as the live sinks) show the durations to the ns."""
    proc = run_cli(tmp_path, "decode", _trace(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert re.findall(r" \[([^\]]+)\] /src/", proc.stdout) == [
        "1.099999999 s", "1.500456 ms", "1.234567891 s"]
    assert proc.stdout.splitlines()[5].endswith(" g1 - omitted 3 calls [123456789 ns]")


@pytest.mark.parametrize("ns, shown", [
    (0, "0 ns"), (999, "999 ns"), (1000, "1.000 us"), (999_999, "999.999 us"),
    (1_000_000, "1.000000 ms"), (1_132_456, "1.132456 ms"), (999_999_999, "999.999999 ms"),
    (1_000_000_000, "1.000000000 s"), (1_132_456_789, "1.132456789 s"),
    (3_600_000_000_001, "3600.000000001 s"),
])
def test_a_line_duration_shows_every_nanosecond(ns, shown):
    """format_duration (the text line's duration) writes digits down to the nanosecond."""
    assert format_duration(ns) == shown
