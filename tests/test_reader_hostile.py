"""Hostile inputs to the trace reader, through `decode`: a clear error naming the file and the
byte offset, everything readable before the bad spot written, exit status 1, never a crash."""

import signal
import struct
import textwrap

import pytest

from binary_files import (
    CALL,
    MAGIC,
    RETURN,
    chunk,
    code_chunk,
    packed_chunk,
    raw,
    trace,
)
from helpers import finish, run_cli, run_python, start_program, wait_for_line

pytestmark = pytest.mark.native  # make test-asan runs these

GOOD = trace(code_chunk(1, "f"), packed_chunk([(CALL, 1, 1000, 0, 1), (RETURN, 1, 2000, 0, 1)]))


def _decode(tmp_path, data, *more):
    path = tmp_path / "t.itr"
    path.write_bytes(data)
    proc = run_cli(tmp_path, "decode", "--format", "jsonl", path, *more)
    assert "Traceback" not in proc.stderr and proc.returncode in (0, 1), proc.stderr
    return proc, path


def _fails(tmp_path, data, message, *more):
    """decode fails on `data` with `message` naming the file; returns the lines written."""
    proc, path = _decode(tmp_path, data, *more)
    assert proc.returncode == 1
    assert "infi_tracing decode: %s: %s" % (path, message) in proc.stderr, proc.stderr
    return proc.stdout.splitlines()


def test_truncated_inside_a_chunk(tmp_path):
    """Cut inside the last chunk: the records before it, then where the cut is."""
    extra = packed_chunk([(CALL, 1, 3000, 0, 1)])
    lines = _fails(tmp_path, GOOD + extra[:-3], "ends inside a chunk at byte %d (cut short, or "
                   "still being written)" % len(GOOD))
    assert len(lines) == 2


def test_truncated_inside_a_chunk_header(tmp_path):
    """Cut inside a chunk header: the records before it, then where the header starts."""
    lines = _fails(tmp_path, GOOD + b"\x03\x00\x00", "ends inside a chunk header at byte %d"
                   % len(GOOD))
    assert len(lines) == 2


def test_unknown_chunk_type(tmp_path):
    """A chunk type that is none of code, records, packed records."""
    lines = _fails(tmp_path, GOOD + chunk(9, b"x" * 8), "unknown chunk type 9 at byte %d"
                   % len(GOOD))
    assert len(lines) == 2


def test_record_size_past_the_chunk(tmp_path):
    """A raw record whose size runs past its chunk's end."""
    bad = bytearray(packed_chunk([raw(CALL, code_id=1, ts=5)]))
    struct.pack_into("<I", bad, 8 + 24 + 1, 4096)  # the raw record's size
    _fails(tmp_path, GOOD + bytes(bad), "damaged record at byte %d: size 4096" % (len(GOOD) + 32))


def test_varint_past_the_chunk(tmp_path):
    """A packed entry whose number never ends within the chunk."""
    body = struct.pack("<qqq", 100, 101, 0) + bytes([CALL]) + b"\xff" * 7  # no pad after it
    _fails(tmp_path, GOOD + chunk(3, body), "damaged packed entry at byte %d: a number runs past "
           "the chunk's end" % (len(GOOD) + 32))


def test_varint_longer_than_64_bits(tmp_path):
    """A packed entry with an 11-byte number."""
    body = struct.pack("<qqq", 100, 101, 0) + bytes([CALL, 1]) + b"\xff" * 10 + b"\x01"
    _fails(tmp_path, GOOD + chunk(3, body), "damaged packed entry at byte %d: a number longer "
           "than 64 bits" % (len(GOOD) + 32))


def test_record_naming_an_undefined_code(tmp_path):
    """A record of a code the file never defined."""
    _fails(tmp_path, GOOD + packed_chunk([(CALL, 7, 3000, 0, 1)]),
           "the record at byte %d names code 7 of pid 100, which the file never defined"
           % (len(GOOD) + 32))


def test_huge_chunk_length(tmp_path):
    """A chunk claiming 4 GiB: refused at once, not allocated."""
    _fails(tmp_path, GOOD + struct.pack("<II", 3, 0xFFFFFFF8), "the chunk at byte %d claims "
           "4294967288 bytes, more than the 64 MiB a chunk may have" % len(GOOD))


def test_damaged_code_entry(tmp_path):
    """A code entry whose names are not NUL-terminated within the chunk."""
    bad = struct.pack("<II", 1, 32) + struct.pack("<qIiII", 100, 1, 1, 0, 0) + b"m" * 8
    _fails(tmp_path, MAGIC + bad, "damaged code entry at byte 8")


def test_empty_file(tmp_path):
    """A file of 0 bytes is called empty."""
    assert _fails(tmp_path, b"", "is empty (0 bytes)") == []


def test_wrong_version(tmp_path):
    """A version 2 file is refused by its version."""
    _fails(tmp_path, b"INFITRC2" + GOOD[8:], "format version 2 at byte 0 (magic INFITRC2), this "
           "reader knows 1")


@pytest.mark.parametrize("data, shown", [
    (b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", "\\x89PNG\\x0d\\x0a\\x1a\\x0a\\x00\\x00\\x00\\x0dIHDR"),
    (b"just some text\n", "just some text\\x0a"),
])
def test_not_a_trace_at_all(tmp_path, data, shown):
    """A PNG or a text file: named, with the bytes it starts with."""
    _fails(tmp_path, data, "is not a trace: it starts with \"%s\" at byte 0" % shown)


def test_concatenated_files_read_as_both(tmp_path):
    """`cat a.itr b.itr`: both files' records, exit status 0."""
    proc, _ = _decode(tmp_path, GOOD + GOOD)
    assert proc.returncode == 0 and len(proc.stdout.splitlines()) == 4


def test_a_bad_input_does_not_stop_the_next(tmp_path):
    """decode BAD GOOD: the good file is decoded, the bad one reported, exit status 1."""
    good = tmp_path / "good.itr"
    good.write_bytes(GOOD)
    lines = _fails(tmp_path, b"", "is empty", good)
    assert len(lines) == 2


WRITER = """
import time
import infi_tracing
infi_tracing.configure_sinks(["binary://%s"])
infi_tracing.set_tracing(overflow="block")
def f(i):
    return i
deadline = time.monotonic() + 60
while time.monotonic() < deadline:  # killed by the test long before
    for i in range(100):
        f(i)
    infi_tracing.flush_tracing()
    print("written", flush=True)
    time.sleep(0.001)
"""


def test_file_still_being_written(tmp_path):
    """A traced program appending to the file while decode reads it: decode writes every
    complete record and ends cleanly or says the file ends inside a chunk."""
    path = tmp_path / "live.itr"
    writer = start_program(tmp_path, WRITER % path)
    try:
        wait_for_line(writer, "written")
        proc = run_cli(tmp_path, "decode", "-q", path)
    finally:
        finish(writer, signal.SIGKILL)
    assert proc.returncode == 0 or (proc.returncode == 1 and "ends inside a chunk" in proc.stderr
                                    and "(cut short, or still being written)" in proc.stderr), \
        proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) >= 200 and all(line.endswith("traced_program.py:6") for line in lines)


def test_chunk_claiming_more_than_the_file_is_not_allocated(tmp_path):
    """A tiny file claiming a 64 MiB chunk is found cut short without a 64 MiB buffer."""
    path = tmp_path / "t.itr"
    path.write_bytes(MAGIC + struct.pack("<II", 3, (64 << 20) - 8) + b"\0" * 24)
    # The address space capped at 32 MiB over the interpreter's: a 64 MiB buffer cannot be
    # had, so growing it for the claim would fail as "out of memory".
    proc = run_python(tmp_path, textwrap.dedent("""\
        import resource, sys
        from infi_tracing._cli import main
        with open("/proc/self/status") as status:
            vm = next(int(line.split()[1]) * 1024 for line in status
                      if line.startswith("VmSize:"))
        resource.setrlimit(resource.RLIMIT_AS, (vm + (32 << 20), vm + (32 << 20)))
        sys.exit(main(["decode", %r]))
        """ % str(path)))
    assert proc.returncode == 1, proc.stderr
    assert ("infi_tracing decode: %s: ends inside a chunk at byte 8 (cut short, or still being "
            "written): it needs 67108856 bytes, 24 remain" % path) in proc.stderr, proc.stderr
