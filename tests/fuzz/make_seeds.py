"""Seed corpus of the reader's fuzz harness (tests/fuzz/fuzz_reader.c), made fresh by
`make test-fuzz` in its build directory (nothing big is committed).

    python tests/fuzz/make_seeds.py OUTDIR

Real traces: small programs (nested calls with values, exceptions, generators, a thread, a
log record, greenlets, a forked child appending to the same file) traced to binary, JSON-lines
and text files at name level and with values; the text ones also with the header each syslog
daemon puts in front of a line.  Then what no traced program writes on demand,
built with tests/binary_files.py: switch and lost records, raw records inside a packed chunk, a
concatenated file, a redefined code; and the hostile cases as short seeds (cut short, wrong
version, empty, not a trace).  Last, the programs traced with a crash-survival file and turned
into traces by `recover`.  Every seed is a few KiB at most, so the fuzzer stays fast.
"""

import pathlib
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # tests/: binary_files, helpers

from binary_files import (  # noqa: E402
    CALL,
    LOG,
    LOST,
    RETURN,
    SWITCH,
    YIELD,
    code_chunk,
    packed_chunk,
    raw,
    records_chunk,
    trace,
)
from helpers import ONLY_MAIN, TWO_GREENLETS, traced_source  # noqa: E402

__all__ = ["PROGRAMS", "main"]

# Each program's body is traced by helpers.traced_source, its own functions only (ONLY_MAIN):
# a seed of a few KiB.
PROGRAMS = {
    "nested": """
def leaf(s, n):
    if n == 2:
        raise KeyError(s)
    return s * n
def mid(n):
    try:
        return leaf("ab", n)
    except KeyError:
        return None
def gen():
    yield 1
    yield 2
for i in range(4):
    mid(i % 3)
list(gen())
""",
    "threads_and_log": """
import logging, threading
def work(n):
    return sum(range(n))
t = threading.Thread(target=work, args=(10,))
t.start(); t.join()
logging.getLogger("app").addHandler(infi_tracing.TraceLogHandler())
logging.getLogger("app").warning("hello %s", "there")
work(3)
""",
    "greenlets": TWO_GREENLETS,
    "fork": """
import os
def child():
    return 1
pid = os.fork()
if pid == 0:
    child()
    os._exit(0)
os.waitpid(pid, 0)
child()
""",
}

SINKS = {  # seed suffix: sink URL (the path filled in)
    "itr": "binary://%s",
    "jsonl": "file://%s?format=jsonl",
    "txt": "file://%s",
}

LEVELS = {"name": "TRACE_FUNC_NAME", "values": "TRACE_FUNC_PRIMITIVES"}


def traced_seeds(out):
    """The programs traced to every file format at both levels."""
    with tempfile.TemporaryDirectory() as tmp:
        for name, body in PROGRAMS.items():
            for level, constant in LEVELS.items():
                paths = {ext: out / ("%s-%s.%s" % (name, level, ext)) for ext in SINKS}
                sinks = [url % paths[ext] for ext, url in SINKS.items()]
                source = traced_source(body, setup=ONLY_MAIN,
                                       sinks="infi_tracing.configure_sinks(%r)" % sinks,
                                       tracing_args="filter=only_main, level=infi_tracing.%s, "
                                                    "overflow='block', generators=True" % constant)
                subprocess.run([sys.executable, "-c", source], cwd=tmp, check=True, timeout=120)


def recovered_seeds(out):
    """The programs traced with a crash-survival file, turned into traces by recover (the
    ring records and stop markers of a recovered trace are RECORDS chunks and log records)."""
    from infi_tracing.analysis import recover
    with tempfile.TemporaryDirectory() as tmp:
        for name, body in PROGRAMS.items():
            flight = pathlib.Path(tmp) / ("%s-{pid}.flight" % name)
            recorder = "infi_tracing.FlightRecorder(size=1 << 20, file=%r, keep_file=True)" % (
                str(flight))
            source = traced_source(body, setup=ONLY_MAIN, sinks="infi_tracing.set_sinks([])",
                                   tracing_args="filter=only_main, overflow='block', "
                                                "buffer_size=1 << 16, flight_recorder=" + recorder)
            subprocess.run([sys.executable, "-c", source], cwd=tmp, check=True, timeout=120)
            for i, path in enumerate(sorted(pathlib.Path(tmp).glob("%s-*.flight" % name))):
                recover(path, out / ("recovered-%s-%d.itr" % (name, i)))


def built_seeds(out):
    """Binary files no program writes on demand, and the hostile cases."""
    codes = (code_chunk(1, "outer", argnames=("a", "b")) + code_chunk(2, "inner")
             + code_chunk(1, "redefined", pid=200))
    packed = packed_chunk([(CALL, 1, 10, 0, 1), (CALL, 2, 20, 1, 1),
                           raw(SWITCH, code_id=1, greenlet=2, ts=25),
                           raw(SWITCH, code_id=2, greenlet=1, ts=30),
                           (RETURN, 2, 40, 1, 1), (YIELD, 1, 50, 0, 1), (CALL, 1, 60, 0, 3)])
    records = records_chunk([raw(CALL, code_id=1, ts=70, values=("1", "x")),
                             raw(LOST, ts=75, count=3),
                             raw(LOG, ts=80, values=("WARNING", "app", "hi")),
                             raw(RETURN, code_id=1, ts=90, values=("None",))])
    whole = trace(codes, packed, records)
    seeds = {
        "built-switch-lost.itr": whole,
        "built-concatenated.itr": whole + trace(code_chunk(1, "other", pid=200),
                                                packed_chunk([(CALL, 1, 5, 0, 1)], pid=200)),
        "built-cut.itr": whole[:-13],
        "built-version.itr": b"INFITRC2" + whole[8:],
        "built-empty.itr": b"",
        "built-not-a-trace.itr": b"hello, world\n",
    }
    for name, data in seeds.items():
        (out / name).write_bytes(data)


# A text trace as central syslog daemons store it: the header each puts in front of a line
# (RFC 5424 as received, RFC 3164, rsyslog's file format and syslog-ng's default).
SYSLOG_HEADERS = {
    "rfc5424": "<134>1 2026-11-30T02:10:00.123456+00:00 host1 infi_tracing 4242 call - ",
    "rfc3164": "<134>Nov 30 02:10:00 host1 infi_tracing[4242]: ",
    "rsyslog": "2026-11-30T02:10:00.123456+00:00 host1 infi_tracing[4242]: ",
    "syslog-ng": "Nov 30 02:10:00 host1 infi_tracing[4242]: ",
}


def syslog_seeds(out):
    """The text seeds with each syslog header in front of every line."""
    for text in sorted(out.glob("*-values.txt")):
        lines = text.read_text(encoding="utf-8").splitlines(keepends=True)
        for name, header in SYSLOG_HEADERS.items():
            target = out / ("%s-%s.log" % (text.stem, name))
            target.write_text("".join(header + line for line in lines), encoding="utf-8")


def main(argv):
    """Write the seeds into argv[1] (created)."""
    if len(argv) != 2:
        sys.stderr.write("usage: make_seeds.py OUTDIR\n")
        return 2
    out = pathlib.Path(argv[1]).resolve()
    out.mkdir(parents=True, exist_ok=True)
    traced_seeds(out)
    syslog_seeds(out)
    built_seeds(out)
    recovered_seeds(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
