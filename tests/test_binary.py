"""The binary trace file sink and `python -m infi_tracing decode`."""

import errno
import json
import os
import subprocess
import sys
import time

import pytest

from helpers import (
    FORKED_CHILD,
    TWO_GREENLETS,
    check_nesting,
    decode_binary,
    run_cli,
    run_python,
    run_traced_program,
    wait_for,
)

pytestmark = pytest.mark.native  # make test-asan runs these

SINKS = """
infi_tracing.configure_sinks(["binary://%(dir)s/trace.itr", "file://%(dir)s/native.txt",
                              "file://%(dir)s/native.jsonl?format=jsonl"])
"""

PROGRAM = """
def inner(s, n):
    if n == 2:
        raise KeyError(s)
    return s * n
def outer(n):
    try:
        return inner("ab", n)
    except KeyError:
        return None
for i in range(%d):
    outer(i %% 3)
    if i == 2:
        infi_tracing.flush_tracing()  # more than one chunk in the file
"""


def _decode(path, *args, **kwargs):
    return run_cli(path.parent, "decode", path, *args, **kwargs)


def _traced(tmp_path, backend, calls=5):
    run_traced_program(tmp_path, PROGRAM % calls, backend=backend, sinks=SINKS % {"dir": tmp_path},
                       tracing_args="level=infi_tracing.TRACE_FUNC_PRIMITIVES, overflow='block'")
    return tmp_path / "trace.itr"


def test_decode_to_text_matches_the_native_text_sink(tmp_path, backend):
    """Decoded text is byte for byte what the text sink wrote in the same run."""
    trace = _traced(tmp_path, backend)
    out = _decode(trace)
    assert out.returncode == 0, out.stderr
    assert out.stdout == (tmp_path / "native.txt").read_text()


def test_decode_to_jsonl_matches_the_native_jsonl_sink(tmp_path, backend):
    """Decoded JSON lines carry the same records as the JSON-lines sink."""
    trace = _traced(tmp_path, backend)
    out = _decode(trace, "--format", "jsonl", "-o", str(tmp_path / "decoded.jsonl"))
    assert out.returncode == 0, out.stderr
    decoded = [json.loads(x) for x in (tmp_path / "decoded.jsonl").read_text().splitlines()]
    native = [json.loads(x) for x in (tmp_path / "native.jsonl").read_text().splitlines()]
    assert decoded == native
    assert {r["event"] for r in decoded} >= {"call", "return", "exception"}


def test_decode_to_jsonl_is_the_native_jsonl_sink_byte_for_byte(tmp_path, backend):
    """Decoded JSON lines are byte for byte what the JSON-lines sink wrote in the same run."""
    trace = _traced(tmp_path, backend)
    out = _decode(trace, "--format", "jsonl", "-o", str(tmp_path / "decoded.jsonl"))
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "decoded.jsonl").read_bytes() == (tmp_path / "native.jsonl").read_bytes()


# A name longer than a line (cut at 32 KiB) and a file name with a character that is escaped.
LONG_NAMES = """
name = "f" * 40000
exec(compile("def %s(a):\\n    return a\\n%s('x')\\n" % (name, name), "<odd\\x7ffile>", "exec"))
for i in range(3):
    exec(compile("def g(a):\\n    return a\\ng(%d)\\n" % i, "<odd\\x7ffile>", "exec"))
"""


@pytest.mark.parametrize("fmt, live, escaped", [("text", "native.txt", b"\\x7f"),
                                               ("jsonl", "native.jsonl", b"\\u007f")])
def test_decoded_lines_of_long_and_escaped_names_are_the_live_ones(tmp_path, fmt, live, escaped):
    """Lines cut inside a function's name and names with escapes decode byte for byte as the
    live sinks wrote them (decode formats a function's names once and copies them)."""
    run_traced_program(tmp_path, LONG_NAMES, sinks=SINKS % {"dir": tmp_path},
                       tracing_args="level=infi_tracing.TRACE_FUNC_PRIMITIVES, overflow='block'")
    out = _decode(tmp_path / "trace.itr", "--format", fmt, "-o", str(tmp_path / "decoded"))
    assert out.returncode == 0, out.stderr
    written = (tmp_path / live).read_bytes()
    assert escaped in written and max(map(len, written.splitlines())) == 32 * 1024 - 1
    assert (tmp_path / "decoded").read_bytes() == written


def test_lossless_binary_trace_is_complete(tmp_path, backend):
    """100,000 calls in block mode: every call and return is in the binary file."""
    trace = _traced(tmp_path, backend, calls=50_000)
    out = _decode(trace, "--format", "jsonl")
    records = [json.loads(x) for x in out.stdout.splitlines()]
    ours = [r for r in records if r.get("qualname") in ("outer", "inner")]
    assert len(ours) == 50_000 * 4
    check_nesting(ours)


def test_decode_to_perfetto(tmp_path, backend):
    """decode --format perfetto writes a loadable Chrome trace JSON array."""
    trace = _traced(tmp_path, backend)
    out = _decode(trace, "--format", "perfetto", "-o", str(tmp_path / "t.json"))
    assert out.returncode == 0, out.stderr
    events = json.loads((tmp_path / "t.json").read_text())
    assert any(e.get("ph") == "B" and e["name"].endswith("outer") for e in events)


def test_truncated_file_gives_a_clear_error_after_the_complete_part(tmp_path, backend):
    """A file cut short decodes up to the cut, then fails naming the cut."""
    trace = _traced(tmp_path, backend)
    data = trace.read_bytes()
    cut = tmp_path / "cut.itr"
    cut.write_bytes(data[:len(data) - 5])
    out = _decode(cut)
    assert out.returncode == 1
    assert "ends inside a chunk at byte" in out.stderr and "cut short" in out.stderr
    assert out.stdout and (tmp_path / "native.txt").read_text().startswith(out.stdout)


@pytest.mark.parametrize("name", ["-", "/dev/stdin"])
def test_decode_reads_a_pipe_on_standard_input_once(tmp_path, name):
    """`cat t.itr | decode -` (or /dev/stdin) decodes the whole stream."""
    trace = _traced(tmp_path, "auto")
    out = run_cli(tmp_path, "decode", name, input=trace.read_bytes(), text=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.decode() == (tmp_path / "native.txt").read_text()


def _feed_fifo(path, data, timeout=30):
    """Write `data` into the FIFO once a reader has opened it (bounded wait)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
            break
        except OSError as exc:
            if exc.errno != errno.ENXIO or time.monotonic() > deadline:
                raise
            time.sleep(0.01)
    os.set_blocking(fd, True)
    try:
        os.write(fd, data)  # a broken pipe here means the reader went away early
    finally:
        os.close(fd)


def test_decode_reads_a_fifo_once(tmp_path):
    """decode FIFO reads what one writer puts in it and decodes all of it."""
    trace = _traced(tmp_path, "auto")
    fifo = tmp_path / "trace.fifo"
    os.mkfifo(fifo)
    proc = subprocess.Popen([sys.executable, "-m", "infi_tracing", "decode", str(fifo)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path)
    try:
        _feed_fifo(fifo, trace.read_bytes())
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 0, stderr
    assert stdout.decode() == (tmp_path / "native.txt").read_text()


def test_foreign_file_gives_a_clear_error(tmp_path):
    """A file that is not a trace (binary, jsonl or text) is refused by name."""
    other = tmp_path / "other.bin"
    other.write_bytes(b"\x7fELF not a trace")
    out = _decode(other)
    assert out.returncode == 1 and "%s: is not a trace" % other in out.stderr


def test_fork_appends_both_processes_to_one_file(tmp_path, backend):
    """Parent and forked child share the file; each record decodes with its own pid."""
    proc = run_traced_program(tmp_path, "in_parent()" + FORKED_CHILD + "in_parent()",
                              backend=backend, tracing_args="overflow='block'",
                              sinks='infi_tracing.configure_sinks(["binary://%s/trace.itr"])'
                              % tmp_path, setup="""
def in_parent():
    pass
def in_child():
    pass
""", end="print(os.getpid(), pid)")
    parent, child = map(int, proc.stdout.split())
    records = decode_binary(tmp_path / "trace.itr", tmp_path)
    calls = sorted((r["qualname"], r["pid"]) for r in records
                   if r["event"] == "call" and r["qualname"].startswith("in_"))
    assert calls == [("in_child", child), ("in_parent", parent), ("in_parent", parent)]


PACKED_PROGRAM = """
def deep(n):
    return n if n == 0 else deep(n - 1)
def gen():
    yield 1
    yield 2
def fails():
    raise ValueError("x")
for i in range(300):
    deep(i % 40)
    list(gen())
    try:
        fails()
    except ValueError:
        pass
"""


def test_packed_name_records_decode_as_the_jsonl_sink_wrote_them(tmp_path, backend):
    """Name-level records (packed in the file: greenlet switches, depth jumps, resumes and
    yields, exceptions) decode to exactly the records the JSON-lines sink got."""
    run_traced_program(tmp_path, TWO_GREENLETS + PACKED_PROGRAM, backend=backend,
                       tracing_args="overflow='block', generators=True", sinks="""
infi_tracing.configure_sinks(["binary://%(dir)s/trace.itr",
                              "file://%(dir)s/native.jsonl?format=jsonl"])
""" % {"dir": tmp_path})
    out = _decode(tmp_path / "trace.itr", "--format", "jsonl", "-o", str(tmp_path / "d.jsonl"))
    assert out.returncode == 0, out.stderr
    decoded = [json.loads(x) for x in (tmp_path / "d.jsonl").read_text().splitlines()]
    native = [json.loads(x) for x in (tmp_path / "native.jsonl").read_text().splitlines()]
    assert decoded == native
    assert {r["event"] for r in decoded} >= {"call", "return", "exception", "resume", "yield"}
    assert len({r["greenlet"] for r in decoded}) >= 3
    assert max(r["depth"] for r in decoded) >= 39


# Makes the descriptor the sink opened on the FIFO `fifo` non-blocking (`rfd`: the read end,
# or -1), as a socket or a pipe set non-blocking by its owner would be.
SINK_FD_NONBLOCKING = r"""
import os
def _target(fd):
    try:
        return os.readlink("/proc/self/fd/%d" % fd)
    except OSError:
        return None
[wfd] = [fd for fd in range(3, 1024) if fd != rfd and _target(fd) == fifo]
os.set_blocking(wfd, False)
"""

# The binary sink on a FIFO made non-blocking, whose reader (a child) reads nothing
# until told: the drain's writes get EAGAIN, wait ~1 s and give their buffer up.
STALLED_READER = r"""
import json, os, subprocess, sys, infi_tracing
fifo = os.path.abspath("trace.fifo")
os.mkfifo(fifo)
rfd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
infi_tracing.configure_sinks(["binary://" + fifo])
""" + SINK_FD_NONBLOCKING + r"""reader = subprocess.Popen([sys.executable, "-c", '''
import os, sys
fd = int(sys.argv[1])
os.set_blocking(fd, True)
sys.stdin.read(1)
with open("trace.part", "wb") as out:
    while True:
        data = os.read(fd, 1 << 16)
        if not data:
            break
        out.write(data)
os.rename("trace.part", "trace.itr")
''', str(rfd)], stdin=subprocess.PIPE, pass_fds=[rfd])
os.close(rfd)
def fill(i):
    return i
def later(i):
    return i
infi_tracing.set_tracing()
for i in range(100000):
    fill(i)
infi_tracing.flush_tracing()  # the pipe takes 64 KiB, part of a chunk; the rest waits ~1 s
later(0)
infi_tracing.flush_tracing()  # the pipe is full: later's definition is given up
reader.stdin.write(b"g")
reader.stdin.close()
later(1)
infi_tracing.unset_tracing()
stats = infi_tracing.tracing_stats()
sys.stderr.write(json.dumps({"records": stats["records"], "sinks": stats["sinks"]}) + "\n")
"""


def test_records_given_up_on_a_stalled_reader_leave_the_file_decodable(tmp_path):
    """EAGAIN give-up: no half chunk in the file, lost definitions written again, all counted."""
    proc = run_python(tmp_path, STALLED_READER)
    assert proc.returncode == 0, proc.stderr
    stats = json.loads([line for line in proc.stderr.splitlines() if line.startswith("{")][-1])
    [sink] = stats["sinks"]
    assert sink["lost"] > 0 and sink["records"] + sink["lost"] + sink["pending"] == stats["records"]
    wait_for((tmp_path / "trace.itr").exists, "the reader to copy the FIFO")
    records = [r for r in decode_binary(tmp_path / "trace.itr", tmp_path) if r["event"] != "lost"]
    assert len(records) == sink["records"]
    assert [r["event"] for r in records if r["qualname"] == "later"] == ["call", "return"]


def test_a_reader_stalled_until_exit_leaves_nothing_pending(tmp_path):
    """run's summary: what a reader that never reads did not take is lost at exit, not pending."""
    fifo = tmp_path / "trace.fifo"
    os.mkfifo(fifo)
    rfd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # the reader, which reads nothing
    (tmp_path / "prog.py").write_text("fifo, rfd = %r, -1\n%s\ndef fill(i):\n    return i\n"
                                      "for i in range(100000):\n    fill(i)\n"
                                      % (str(fifo), SINK_FD_NONBLOCKING))
    try:
        proc = run_cli(tmp_path, "run", "--sink", "binary://%s" % fifo, "prog.py")
    finally:
        os.close(rfd)
    assert proc.returncode == 0, proc.stderr
    [line] = [line for line in proc.stderr.splitlines() if line.startswith("  sink binary:")]
    assert " 0 lost" not in line and "pending" not in line, line
