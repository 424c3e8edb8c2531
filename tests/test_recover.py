"""`python -m infi_tracing recover`: the trace a process left in its crash-survival file
(--flight-recorder-file) after SIGKILL, a segfault or os._exit, with every record it committed
to its rings; torn, live, corrupt and truncated files."""

import os
import random
import signal
import struct

import pytest

from infi_tracing.analysis import Reader, RecoverError, _recover, recover

from helpers import decode_binary, run_cli, run_interpreter, start_program, wait_for

BATCH = 1000

# Two threads call leaf() in batches, each adding its count to a side file after every
# batch (so the count read there is at most what was committed); overflow="block": every
# call is committed to a ring.
LOADED = """
import os, sys, threading, time
import infi_tracing
def only_main(frame):
    return frame.f_globals.get("__name__") == "__main__"
infi_tracing.set_tracing(filter=only_main, backend=%(backend)r, overflow="block",
                         buffer_size=1 << 20, flight_recorder=infi_tracing.FlightRecorder(
                             size=32 << 20, file=%(file)r))
def leaf():
    pass
def loop(slot):
    fd = os.open("progress-%%d" %% slot, os.O_WRONLY | os.O_CREAT)
    done = 0
    while True:
        for _ in range(%(batch)d):
            leaf()
        done += %(batch)d
        os.pwrite(fd, b"%%20d %%20d" %% (done, threading.get_native_id()), 0)
        time.sleep(%(pause)s)
threading.Thread(target=loop, args=(1,), daemon=True).start()
loop(0)
"""

ENDING = """
import ctypes, os, sys
import infi_tracing
def only_main(frame):
    return frame.f_globals.get("__name__") == "__main__"
infi_tracing.set_tracing(filter=only_main, buffer_size=1 << 20,
                         flight_recorder=infi_tracing.FlightRecorder(size=4 << 20, file=%r))
def work(i):
    return i
for i in range(100):
    work(i)
if sys.argv[1] == "segv":
    ctypes.string_at(0)
os._exit(3)
"""


def flight_file(tmp_path):
    return str(tmp_path / "app-{pid}.flight")


def the_file(tmp_path):
    found = sorted(tmp_path.glob("app-*.flight"))
    assert len(found) == 1, found
    return found[0]


def recover_to(tmp_path, path, *extra):
    proc = run_cli(tmp_path, "recover", path, "-o", tmp_path / "out.itr", *extra)
    assert proc.returncode == 0, proc.stderr
    return proc


def progress(tmp_path, slot, with_tid=False):
    """Calls thread `slot` reported done (and its thread id)."""
    path = tmp_path / ("progress-%d" % slot)
    fields = path.read_bytes().split() if path.exists() else []
    done, tid = map(int, fields) if len(fields) == 2 else (0, 0)  # created, not written yet
    return (tid, done) if with_tid else done


def calls_by_tid(records, name):
    counts = {}
    for r in records:
        if r["event"] == "call" and r.get("qualname") == name:
            counts[r["tid"]] = counts.get(r["tid"], 0) + 1
    return counts


def test_sigkill_under_load_recovers_every_committed_call(tmp_path, backend):
    """SIGKILL while two threads call as fast as they can: >= 99.9% of committed calls, no more."""
    proc = start_program(tmp_path, LOADED % {"backend": backend, "file": flight_file(tmp_path),
                                             "batch": BATCH, "pause": 0})
    wait_for(lambda: progress(tmp_path, 0) >= 100 * BATCH and progress(tmp_path, 1) >= BATCH
             or proc.poll() is not None, "calls under load")
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    committed = dict(progress(tmp_path, slot, with_tid=True) for slot in (0, 1))
    recover_to(tmp_path, the_file(tmp_path))
    records = decode_binary(tmp_path / "out.itr", tmp_path)
    recovered = calls_by_tid(records, "leaf")
    assert recovered.keys() == committed.keys(), (recovered, committed)
    for tid, done in committed.items():
        assert recovered[tid] >= done * 0.999, (recovered, committed)
        assert recovered[tid] <= done + BATCH, (recovered, committed)  # nothing twice


@pytest.mark.parametrize("how, code", [("segv", -signal.SIGSEGV), ("exit", 3)])
def test_a_crash_or_os_exit_leaves_a_recoverable_file(tmp_path, how, code):
    """A segfault (ctypes) or os._exit: the file stays, and recover gives every call."""
    (tmp_path / "p.py").write_text(ENDING % flight_file(tmp_path))
    proc = run_interpreter(tmp_path, "p.py", how)
    assert proc.returncode == code, proc.stderr
    recover_to(tmp_path, the_file(tmp_path))
    records = decode_binary(tmp_path / "out.itr", tmp_path)
    assert sum(calls_by_tid(records, "work").values()) == 100


def test_each_thread_gets_a_marker_where_it_stopped(tmp_path):
    """The recovered trace ends each thread with a log record saying it stopped there."""
    (tmp_path / "p.py").write_text(ENDING % flight_file(tmp_path))
    run_interpreter(tmp_path, "p.py", "exit")
    recover_to(tmp_path, the_file(tmp_path))
    records = decode_binary(tmp_path / "out.itr", tmp_path)
    assert records[-1]["event"] == "log"
    assert "stopped here" in records[-1]["message"], records[-1]


def test_every_reading_command_reads_a_recovered_trace(tmp_path):
    """report, replay, graph and greenlets read what recover wrote."""
    (tmp_path / "p.py").write_text(ENDING % flight_file(tmp_path))
    run_interpreter(tmp_path, "p.py", "exit")
    recover_to(tmp_path, the_file(tmp_path))
    for command in (["report"], ["replay"], ["graph", "__main__.work"], ["greenlets"]):
        proc = run_cli(tmp_path, *command, tmp_path / "out.itr")
        assert proc.returncode == 0, (command, proc.stderr)


def slot_fields(path):
    """(header, offset of the first used slot's ring struct) of a crash-survival file."""
    data = path.read_bytes()
    h = _recover.header_fields(data)
    for slot in range(h["nslots"]):
        base = h["slots_off"] + slot * h["slot_stride"]
        if struct.unpack_from("<Q", data, base + h["slot_meta_off"])[0] == 1:
            return h, base
    raise AssertionError("no ring slot in use")


def poke(path, offset, fmt, value):
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(struct.pack(fmt, value))


@pytest.mark.parametrize("tear", ["size out of range", "past the head"])
def test_a_torn_last_record_is_left_out(tmp_path, tear):
    """A last ring record with a bad size, or running past the head, is left out and counted."""
    (tmp_path / "p.py").write_text(ENDING % flight_file(tmp_path))
    run_interpreter(tmp_path, "p.py", "exit")
    path = the_file(tmp_path)
    h, ring = slot_fields(path)
    head = struct.unpack_from("<Q", path.read_bytes(), ring + h["ring_head_off"])[0]
    buf = h["rings_off"] + (ring - h["slots_off"]) // h["slot_stride"] * h["ring_bytes"]
    if tear == "size out of range":  # a record claiming more than the ring
        poke(path, buf + head % h["ring_bytes"], "<I", 1 << 30)
        poke(path, ring + h["ring_head_off"], "<Q", head + 32)
    else:  # a full record whose end is beyond the committed head
        poke(path, buf + head % h["ring_bytes"], "<I", 64)
        poke(path, ring + h["ring_head_off"], "<Q", head + 32)
    proc = recover_to(tmp_path, path)
    assert "1 torn record(s) left out" in proc.stderr, proc.stderr
    records = decode_binary(tmp_path / "out.itr", tmp_path)
    assert sum(calls_by_tid(records, "work").values()) == 100
    assert "1 torn record(s)" in records[-1]["message"]


def test_recover_on_a_live_process_reads_a_copy_and_says_so(tmp_path):
    """A live writer: recover leaves it running, notes it is alive, and its output reads."""
    proc = start_program(tmp_path, LOADED % {"backend": "auto", "file": flight_file(tmp_path),
                                             "batch": BATCH, "pause": 0.01})
    try:
        wait_for(lambda: progress(tmp_path, 0) >= 10 * BATCH or proc.poll() is not None,
                 "calls")
        path = the_file(tmp_path)
        before = path.read_bytes()[:64]
        out = recover_to(tmp_path, path)
        assert "is alive" in out.stderr, out.stderr
        assert proc.poll() is None
        assert path.read_bytes()[:64] == before  # the header was never written to
        records = decode_binary(tmp_path / "out.itr", tmp_path)
        assert sum(calls_by_tid(records, "leaf").values()) >= 10 * BATCH
    finally:
        proc.kill()
        proc.communicate()


def dead_file(tmp_path):
    (tmp_path / "p.py").write_text(ENDING % flight_file(tmp_path))
    run_interpreter(tmp_path, "p.py", "exit")
    return the_file(tmp_path)


@pytest.mark.parametrize("damage, expected", [
    ("truncated", "truncated"),
    ("not ours", "not a flight-recorder file"),
    ("empty", "too short"),
    ("ring positions", "damaged ring slot"),
])
def test_a_damaged_file_gets_a_clear_error(tmp_path, damage, expected):
    """Truncated, foreign, empty or inconsistent files: exit 2, the file named, the fault said."""
    path = dead_file(tmp_path)
    if damage == "truncated":
        os.truncate(path, path.stat().st_size // 2)
    elif damage == "not ours":
        poke(path, 0, "<8s", b"NOTOURS!")
    elif damage == "empty":
        os.truncate(path, 0)
    else:
        h, ring = slot_fields(path)
        poke(path, ring + h["ring_tail_off"], "<Q", 1 << 40)
    proc = run_cli(tmp_path, "recover", path, "-o", tmp_path / "out.itr")
    assert proc.returncode == 2, proc.stderr
    assert str(path) in proc.stderr and expected in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def test_random_damage_never_escapes_as_anything_but_a_clear_error(tmp_path):
    """Bytes flipped in the header, slots, rings and block heads: RecoverError or a readable trace."""
    path = dead_file(tmp_path)
    pristine = path.read_bytes()
    h = _recover.header_fields(pristine)
    regions = [(0, 288), (h["code_off"], h["code_len"]),
               (h["slots_off"], h["nslots"] * h["slot_stride"]),
               (h["blocks_off"], h["block_stride"] * 2)]
    rng = random.Random(12)
    for _ in range(150):
        data = bytearray(pristine)
        start, size = rng.choice(regions)
        for _ in range(rng.randint(1, 4)):
            data[start + rng.randrange(max(size, 1))] = rng.randrange(256)
        path.write_bytes(bytes(data))
        try:
            recover(path, tmp_path / "out.itr")
        except RecoverError as exc:
            assert str(path) in str(exc)
            continue
        reader = Reader([str(tmp_path / "out.itr")])
        for _ in reader.records():
            pass  # the native reader reports damage in reader.errors, never crashes
