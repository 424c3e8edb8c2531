"""Interpreter exit never waits for ever on a sink: a native sink whose FIFO reader
stopped reading, a Python sink whose flush() or close() does not return, are given up
on after the exit bound (5 s), said on stderr and counted lost; the other sinks still
get every record."""

import os
import re
import time

import pytest

from helpers import decode_binary, finish, start_program, summary_sinks

# Enough records to fill a pipe (64 KiB) and the sink's buffer many times over, held in
# a ring large enough that none is dropped while the drain waits for the reader.
CALLS = 20000
WORKER = """
def work(i):
    return i
for i in range(%d):
    work(i)
""" % CALLS

# Comfortably above the 5 s exit bound (plus interpreter start and the rest of exit),
# far below "for ever": the program hanging is the failure.
EXIT_TIMEOUT = 45


def _read_a_little(fd, want=4096):
    """Read `want` bytes from the non-blocking `fd` as they come (bounded wait), then stop;
    returns them."""
    got, deadline = b"", time.monotonic() + 30
    while len(got) < want and time.monotonic() < deadline:
        try:
            got += os.read(fd, want - len(got))
        except BlockingIOError:
            time.sleep(0.01)
    assert len(got) == want, "the program wrote too little into the FIFO"
    return got


def _exit_with_a_stalled_fifo(tmp_path):
    """WORKER under run with a text sink on a FIFO (whose reader takes a little, then
    stops, keeping it open) and a binary file sink after it; (fifo, binary, stderr) once
    the program has exited (status 0 asserted)."""
    fifo, binary = tmp_path / "trace.fifo", tmp_path / "trace.itr"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        proc = start_program(tmp_path, WORKER, run_args=[
            "--include", "__main__", "--buffer-size", "16M",
            "--sink", "file://%s" % fifo, "--sink", "binary://%s" % binary])
        _read_a_little(reader)
        returncode, _, err = finish(proc, timeout=EXIT_TIMEOUT)
    finally:
        os.close(reader)
    assert returncode == 0, err
    return fifo, binary, err


def test_fifo_sink_whose_reader_stopped_reading_is_given_up_at_exit(tmp_path):
    """A FIFO reader that read a little then stopped (still open): exit ends, naming the sink and its lost records."""
    fifo, binary, err = _exit_with_a_stalled_fifo(tmp_path)
    made = 2 + 2 * CALLS  # <module> and work(), each a call and a return
    written, lost, line = summary_sinks(err)["file:%s" % fifo]
    assert written + lost == made and lost > 0 and "given up at exit" in line, err
    said = re.search(r"infi_tracing: gave up on sink file:%s at exit: .* (\d+) records not "
                     r"delivered" % re.escape(str(fifo)), err)
    assert said and int(said.group(1)) > 0, err


def test_binary_sink_beside_a_stuck_fifo_sink_gets_every_record(tmp_path):
    """The FIFO sink given up at exit costs the binary file sink after it no record."""
    fifo, binary, err = _exit_with_a_stalled_fifo(tmp_path)
    made = 2 + 2 * CALLS
    assert summary_sinks(err)["binary:%s" % binary][:2] == (made, 0), err
    records = decode_binary(binary, tmp_path)
    assert sum(r["event"] == "call" and r["qualname"] == "work" for r in records) == CALLS


def test_fifo_sink_keeps_waiting_for_a_slow_reader_while_the_program_runs(tmp_path):
    """Before exit a FIFO reader pausing longer than the exit bound loses nothing (backpressure)."""
    fifo = tmp_path / "trace.fifo"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        proc = start_program(tmp_path, WORKER, run_args=[
            "--include", "__main__", "--overflow", "block", "--buffer-size", "64K",
            "--sink", "file://%s?format=jsonl" % fifo])
        first = _read_a_little(reader)
        time.sleep(7)  # the program, its small ring full, waits meanwhile: its exit has not begun
        os.set_blocking(reader, True)
        data = b"".join(iter(lambda: os.read(reader, 1 << 16), b""))  # to EOF: the writer exited
        returncode, _, err = finish(proc, timeout=EXIT_TIMEOUT)
    finally:
        os.close(reader)
    assert returncode == 0, err
    made = 2 + 2 * CALLS
    assert len((first + data).splitlines()) == made
    assert summary_sinks(err)["file:%s" % fifo][:2] == (made, 0), err


# A Python sink that works while the program runs and whose `method` stops returning once
# the program's own atexit function ran (it runs before infi_tracing's: registered later).
HANGS_AT_EXIT = """
import atexit, threading, infi_tracing
exiting = threading.Event()
class HangsAtExit:
    def __repr__(self):
        return "HangsAtExit"
    def write(self, batch):
        pass
    def flush(self):
        if exiting.is_set() and %(method)r == "flush":
            %(hang)s
    def close(self):
        if exiting.is_set() and %(method)r == "close":
            %(hang)s
infi_tracing.set_sinks([HangsAtExit()])
atexit.register(exiting.set)
def work(i):
    return i
for i in range(100):
    work(i)
"""

HANGS = {"waits": "threading.Event().wait()", "spins": "while True: pass"}


@pytest.mark.parametrize("hang", sorted(HANGS))
def test_python_sink_whose_flush_never_returns_is_given_up_at_exit(tmp_path, hang):
    """A Python sink's flush() that never returns at exit: exit ends, stderr and the summary say so."""
    proc = start_program(tmp_path, HANGS_AT_EXIT % {"method": "flush", "hang": HANGS[hang]},
                         run_args=["--include", "__main__"])
    returncode, _, err = finish(proc, timeout=EXIT_TIMEOUT)
    assert returncode == 0, err
    assert re.search(r"infi_tracing: gave up on sink HangsAtExit at exit: its flush\(\) had not "
                     r"returned after 5 s; 0 records not delivered", err), err
    assert "given up at exit (its flush() did not return)" in summary_sinks(err)["HangsAtExit"][2]


@pytest.mark.parametrize("hang", sorted(HANGS))
def test_python_sink_whose_close_never_returns_is_given_up_at_exit(tmp_path, hang):
    """A Python sink's close() that never returns at exit: exit ends, and stderr says so."""
    proc = start_program(tmp_path, HANGS_AT_EXIT % {"method": "close", "hang": HANGS[hang]},
                         run_args=["--include", "__main__"])
    returncode, _, err = finish(proc, timeout=EXIT_TIMEOUT)
    assert returncode == 0, err
    assert re.search(r"infi_tracing: gave up on sink HangsAtExit at exit: its close\(\) had not "
                     r"returned after 5 s", err), err


# A Python sink whose write() fails while the program runs (its records are held for a
# retry), then, at exit, does not return from the retry its flush() makes.
RETRIES_HANG_AT_EXIT = """
import atexit, threading, infi_tracing
exiting = threading.Event()
class RetryHangsAtExit:
    def __repr__(self):
        return "RetryHangsAtExit"
    def write(self, batch):
        if exiting.is_set():
            threading.Event().wait()
        raise OSError("not now")
    def flush(self):
        pass
    def close(self):
        pass
infi_tracing.set_sinks([RetryHangsAtExit()])
atexit.register(exiting.set)
def work(i):
    return i
for i in range(100):
    work(i)
infi_tracing.unset_tracing()  # every record delivered (held for a retry), none at exit
"""


def test_records_held_by_a_sink_whose_flush_never_returns_count_lost(tmp_path):
    """The records a Python sink held for a retry, its flush() at exit stuck in it, are counted lost."""
    proc = start_program(tmp_path, RETRIES_HANG_AT_EXIT, run_args=["--include", "__main__"])
    returncode, _, err = finish(proc, timeout=EXIT_TIMEOUT)
    assert returncode == 0, err
    said = re.search(r"infi_tracing: gave up on sink RetryHangsAtExit at exit: its flush\(\) had "
                     r"not returned after 5 s; (\d+) records not delivered, counted lost", err)
    assert said and int(said.group(1)) >= 2 * 100, err
    assert summary_sinks(err)["RetryHangsAtExit"][:2] == (0, int(said.group(1))), err
