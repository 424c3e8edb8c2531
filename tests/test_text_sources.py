"""Reading text and JSON-lines traces, also text collected by a syslog daemon from many
hosts: the records, the lines that are not records, hosts sharing pids, a real rsyslogd."""

import json
import time

import pytest

from infi_tracing.analysis import Reader

from helpers import (
    analysis_json,
    record_trace,
    report_rows_by_name,
    run_interpreter,
    run_traced_program,
)
from syslog_daemons import Rsyslogd, require

pytestmark = pytest.mark.native  # make test-asan runs these

TEXT = """\
2026-11-30T01:56:48.173888Z 9966 9967 g1   > pkg.mod.K.m(self=<K 0x7f>, x='a, b=c', *rest=(1, 2)) /src/pkg/mod.py:6
2026-11-30T01:56:48.174978Z 9966 9967 g1   < pkg.mod.K.m -> 'x [y]' [1.090 ms] /src/pkg/mod.py:6
2026-11-30T01:56:48.175000Z 9966 9967 g1   ! pkg.mod.K.m raised ValueError [12 ns] /src/pkg/mod.py:6
2026-11-30T01:56:48.176000Z 9966 9967 g2 [depth 73] # WARNING app.db: slow: 3 s
2026-11-30T01:56:48.177000Z 9966 9967 lost 12 records
"""


def _records(tmp_path, text, name="trace.log"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    reader = Reader([path])
    return list(reader.records()), reader


def test_text_lines_read_back_as_records(tmp_path):
    """Each kind of text line gives its record: names split at the module, arguments,
    return value, exception, duration, log fields and lost count as written."""
    records, reader = _records(tmp_path, TEXT)
    call, ret, exc, log, lost = records
    assert (call["module"], call["qualname"], call["file"], call["line"]) == \
        ("pkg.mod", "K.m", "/src/pkg/mod.py", 6)
    assert (call["pid"], call["tid"], call["greenlet"], call["depth"]) == (9966, 9967, 1, 1)
    assert call["args"] == {"self": "<K 0x7f>", "x": "'a, b=c'", "*rest": "(1, 2)"}
    assert call["time_ns"] == 1796003808173888000
    assert ret["retval"] == "'x [y]'"
    assert ret["duration_ns"] == 1_090_000  # from the timestamps, which agree with the text
    assert exc["exception"] == "ValueError"
    assert (log["level"], log["logger"], log["message"], log["depth"]) == \
        ("WARNING", "app.db", "slow: 3 s", 73)
    assert lost["count"] == 12
    assert reader.errors == [] and reader.skipped == []


def test_jsonl_reads_back_what_it_wrote(tmp_path):
    """A JSON-lines trace reads back as the records the tracer wrote."""
    paths, _ = record_trace(tmp_path, "def f(a):\n    return a\nf('x\\n\\u2028')\n",
                            formats=("jsonl",),
                            tracing_args="level=TRACE_FUNC_PRIMITIVES")
    written = [json.loads(line) for line in paths["jsonl"].read_text().splitlines()]
    read = list(Reader([paths["jsonl"]]).records())
    keys = ("event", "mono_ns", "pid", "tid", "greenlet", "depth", "module", "qualname",
            "file", "line", "args", "retval")
    assert [{k: r.get(k) for k in keys} for r in read] == \
        [{k: r.get(k) for k in keys} for r in written]


SYSLOG = """\
<134>1 2026-11-30T01:56:48.100000+00:00 hostA app 42 call - 7 g1 > m.f /m.py:1
2026-11-30T01:56:48.100000+00:00 hostB app[42]: 7 g1 > m.f /m.py:1
Nov 30 01:56:48 central rsyslogd: [origin software="rsyslogd"] start
<134>1 2026-11-30T01:56:48.130000+00:00 hostA app 42 return [meta sequenceId="2"] \ufeff7 g1 < m.f [30.000 ms] /m.py:1
2026-11-30T01:56:48.150000+00:00 hostB app[42]: 7 g1 < m.f [50.000 ms] /m.py:1
"""


def test_hosts_sharing_a_pid_are_kept_apart(tmp_path):
    """Two hosts' records with the same pid, tid and greenlet interleaved in one collected
    file: each return pairs with its own host's call; --by pid names host and pid."""
    path = tmp_path / "remote.log"
    path.write_text(SYSLOG, encoding="utf-8")
    rows = analysis_json(tmp_path, "report", "--by", "pid", path)["rows"]
    assert {row["name"]: row["wall"]["total"] for row in rows} == \
        {"pid hostA:42": 30_000_000, "pid hostB:42": 50_000_000}


def test_durations_written_on_lines_stand_for_coarse_timestamps(tmp_path):
    """Traditional syslog headers have seconds only: the durations written on the lines
    give the totals, and self subtracts the callees' written durations."""
    path = tmp_path / "remote.log"
    path.write_text("""\
Nov 30 01:56:48 web1 app[42]: 7 g1 > m.f /m.py:1
Nov 30 01:56:48 web1 app[42]: 7 g1   > m.g /m.py:5
Nov 30 01:56:48 web1 app[42]: 7 g1   < m.g [3.000 ms] /m.py:5
Nov 30 01:56:48 web1 app[42]: 7 g1 < m.f [10.000 ms] /m.py:1
""", encoding="utf-8")
    rows = report_rows_by_name(tmp_path, path)
    assert (rows["m.f"]["wall"]["total"], rows["m.f"]["wall"]["self"]) == (10_000_000, 7_000_000)
    assert rows["m.g"]["wall"]["total"] == 3_000_000


def test_lines_that_are_not_records_are_skipped_and_counted(tmp_path):
    """Another program's syslog line and a torn last line are skipped, counted, and named
    with the first one's byte offset; the records around them are read."""
    text = SYSLOG + "2026-11-30T01:56:48.200000+00:00 hostB app[42]: 7 g1 > m."
    records, reader = _records(tmp_path, text)
    assert [r["event"] for r in records] == ["call", "call", "return", "return"]
    offset = SYSLOG.encode().index(b"Nov 30")
    assert reader.skipped == [(str(tmp_path / "trace.log"), 2, offset)]
    assert reader.errors == []


def test_text_without_records_is_an_error(tmp_path):
    """A text file whose lines are all other things is not a trace: an error with the
    offset of its first line."""
    _, reader = _records(tmp_path, "2026-11-30 backup done\n2026-12-01 backup done\n")
    assert reader.errors == [(str(tmp_path / "trace.log"), 0,
                              "no trace records: 2 lines are not text trace lines (the first "
                              "at byte 0)")]


def test_jsonl_without_records_is_an_error(tmp_path):
    """A JSON-lines file whose objects are no trace records is not a trace: an error with
    the offset of its first line; a torn last line counts among them."""
    _, reader = _records(tmp_path, '{"a": 1}\n{"b": 2}\n{"event": "ca', name="trace.jsonl")
    assert reader.errors == [(str(tmp_path / "trace.jsonl"), 0,
                              "no trace records: 3 lines are not JSON trace lines (the first "
                              "at byte 0)")]


def test_prose_is_not_a_trace(tmp_path):
    """A file that starts like no trace format gets an error naming what was expected."""
    records, reader = _records(tmp_path, "hello world\n")
    assert records == []
    (error,) = reader.errors
    assert error[1] == 0 and "is not a trace" in error[2] and "a JSON line" in error[2]


class CollectingRsyslogd(Rsyslogd):
    """rsyslogd writing what it receives to a file, as a central collector does, in one of
    its standard file formats."""

    def __init__(self, workdir, template):
        super().__init__(workdir)
        self.template = template
        self.output_path = self.workdir / "remote.log"

    def config(self):
        return super().config().replace('template="json5424"', 'template="%s"' % self.template)


PROGRAM = """
def handle(i):
    return i
for i in range(%d):
    handle(i)
"""


@pytest.mark.parametrize("template", ["RSYSLOG_FileFormat", "RSYSLOG_SyslogProtocol23Format",
                                      "RSYSLOG_TraditionalFileFormat"])
def test_report_reads_what_rsyslogd_collected_from_two_processes(tmp_path, template):
    """Two traced processes send to a real rsyslogd, which writes one file; report reads
    it: every call of both, a row per process under its real pid."""
    require(Rsyslogd)
    with CollectingRsyslogd(tmp_path / "rsyslogd", template) as daemon:
        pids = []
        for n in (3, 5):
            sink = "syslog+tcp://127.0.0.1:%d?hostname=web1&app_name=app" % daemon.tcp_port
            proc = run_traced_program(
                tmp_path, PROGRAM % n + "import os\nprint(os.getpid())",
                sinks="infi_tracing.configure_sinks([%r])" % sink,
                tracing_args="filter=lambda frame: frame.f_code.co_name == 'handle'")
            pids.append(int(proc.stdout))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if daemon.output_path.exists() and \
                    daemon.output_path.read_text().count("handle") >= 16:
                break
            time.sleep(0.05)
    rows = report_rows_by_name(tmp_path, daemon.output_path)
    assert rows["__main__.handle"]["calls"] == 8
    by_pid = analysis_json(tmp_path, "report", "--by", "pid", daemon.output_path)["rows"]
    assert sorted((row["key"], row["calls"]) for row in by_pid) == \
        sorted([("web1:%d" % pids[0], 3), ("web1:%d" % pids[1], 5)])


@pytest.mark.parametrize("line", [
    "9999-11-30T01:56:48.173888Z 1 1 g1 > m.f /m.py:1",       # nanoseconds past int64
    "2026-11-30T01:56:48.173888Z 1 1 g1 < m.f [99999999999999 s] /m.py:1",
    "2026-11-30T01:56:48.173888Z 1 1 lost 99999999999999999999 records",
    '{"time":"2026-11-30T01:56:48Z","mono_ns":1,"pid":1,"tid":1,"event":"lost",'
    '"count":99999999999999999999}',
])
def test_numbers_too_big_for_their_field_make_the_line_skipped(tmp_path, line):
    """A time, duration or count that would overflow makes its line skipped (it is no
    record the tracer wrote), not a record with a wrapped value."""
    good = "2026-11-30T01:56:48.173888Z 1 1 g1 > m.f /m.py:1\n"
    if line.startswith("{"):
        good = ('{"time":"2026-11-30T01:56:48Z","mono_ns":1,"pid":1,"tid":1,"event":"lost",'
                '"count":3}\n')
    records, reader = _records(tmp_path, good + line + "\n")
    assert len(records) == 1
    assert reader.skipped == [(str(tmp_path / "trace.log"), 1, len(good))]


READ_COUNTS = """
import sys
from infi_tracing.analysis import Reader
reader = Reader([sys.argv[1]])
print(len(list(reader.records())), reader.skipped[0][1], reader.skipped[0][2])
"""


@pytest.mark.parametrize("name, good, long_line", [
    ("trace.txt", "2026-11-30T01:56:48.173888Z 1 1 g1 > m.f /m.py:1\n",
     "2026-11-30T01:56:48.173888Z 1 1 g1 > m.f(a=%s) /m.py:1\n"),
    ("trace.jsonl", '{"time":"2026-11-30T01:56:48Z","mono_ns":1,"pid":1,"tid":1,'
                    '"event":"lost","count":3}\n', '{"message":"%s"}\n'),
])
def test_line_longer_than_a_mebibyte_is_skipped(tmp_path, name, good, long_line):
    """Lines over 1 MiB (3 MiB: whole in the read buffer; 5 MiB: longer than it) are
    skipped and counted from the first one's offset; the lines around them are read."""
    path = tmp_path / name
    path.write_text(good + long_line % ("x" * (3 << 20)) + good * 3 +
                    long_line % ("y" * (5 << 20)) + good)
    script = tmp_path / "read_counts.py"
    script.write_text(READ_COUNTS)
    proc = run_interpreter(tmp_path, script, path)  # a crash must not take pytest down
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["5", "2", str(len(good))]
