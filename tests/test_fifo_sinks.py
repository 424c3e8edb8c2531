"""Sinks on a FIFO: opened without blocking, refused clearly when nobody reads it."""

import json
import os
import time

import pytest

from helpers import decode_binary, run_cli, write

PROGRAM = """
open("ran", "w").close()
def f():
    return 1
f()
"""


@pytest.mark.parametrize("scheme", ["file", "binary", "perfetto"])
def test_fifo_without_a_reader_is_refused_before_the_program_starts(tmp_path, scheme):
    """run --sink on a FIFO nobody reads: exit 2 at once, naming the path; the program never runs."""
    fifo = tmp_path / "trace.fifo"
    os.mkfifo(fifo)
    write(tmp_path / "prog.py", PROGRAM)
    started = time.monotonic()
    proc = run_cli(tmp_path, "run", "--sink", "%s://%s" % (scheme, fifo), "prog.py", timeout=30)
    assert proc.returncode == 2, proc.stderr
    assert "path=%r" % str(fifo) in proc.stderr and "no process has it open for reading" \
        in proc.stderr
    assert not (tmp_path / "ran").exists()
    assert time.monotonic() - started < 25, "the open waited for a reader"


def _read_fifo_after(tmp_path, scheme, fifo):
    """Run the program with a reader on the FIFO (the test: the trace is small enough
    for the pipe's buffer); the bytes the program wrote into it."""
    write(tmp_path / "prog.py", PROGRAM)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        query = "?format=jsonl" if scheme == "file" else ""
        proc = run_cli(tmp_path, "run", "--no-summary", "--include", "__main__", "--sink",
                       "%s://%s%s" % (scheme, fifo, query), "prog.py", timeout=60)
        assert proc.returncode == 0, proc.stderr
        os.set_blocking(reader, True)
        chunks = []
        while True:  # the writer has exited: this ends at EOF
            chunk = os.read(reader, 65536)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
    finally:
        os.close(reader)


def test_fifo_with_a_reader_gets_text_records(tmp_path):
    """run --sink file:///FIFO with a reader: the records come through the FIFO."""
    fifo = tmp_path / "trace.fifo"
    os.mkfifo(fifo)
    data = _read_fifo_after(tmp_path, "file", fifo)
    records = [json.loads(line) for line in data.decode().splitlines()]
    assert [(r["event"], r["qualname"]) for r in records] == [("call", "<module>"),
                                                                ("call", "f"), ("return", "f"),
                                                                ("return", "<module>")]


def test_fifo_with_a_reader_gets_a_binary_trace(tmp_path):
    """run --sink binary:///FIFO with a reader: the stream is a whole binary trace."""
    fifo = tmp_path / "trace.fifo"
    os.mkfifo(fifo)
    (tmp_path / "copy.itr").write_bytes(_read_fifo_after(tmp_path, "binary", fifo))
    records = decode_binary(tmp_path / "copy.itr", tmp_path)
    assert [r["qualname"] for r in records if r["event"] == "call"] == ["<module>", "f"]
