"""The flight recorder (issue 12, item 1): records kept in memory, bounded by bytes and by age,
and snapshots written as binary traces that decode and report read."""

import os
import stat

import pytest

from helpers import (
    ONLY_MAIN,
    check_nesting,
    decode_binary,
    jsonl_sink,
    read_jsonl,
    report_rows_by_name,
    run_cli,
    run_traced_program,
)

WORK = ONLY_MAIN + """
def leaf(i):
    return i
def f(i):
    return leaf(i)
"""


def _trace(tmp_path, body, spec="30s,4M", backend="auto", sinks="", setup="", options="",
           end=""):
    """Run `body` traced (only __main__) with the flight recorder `spec`."""
    return run_traced_program(tmp_path, body, backend=backend, setup=WORK + setup, sinks=sinks,
                              tracing_args="filter=only_main, flight_recorder=%r%s"
                                           % (spec, options and ", " + options), end=end)


def _lost(records):
    """Records a snapshot says are missing: its own `lost` record and any ring drops
    (under load, before overflow='drop' catches up) reported inside the window."""
    return sum(r["count"] for r in records if r["event"] == "lost")


def _calls(records, name):
    return [r for r in records if r["event"] == "call" and r["qualname"] == name]


def test_snapshot_holds_every_call_and_reads_back(tmp_path, backend):
    """dump_flight_recorder(): every call made so far, well nested, read by decode and report."""
    _trace(tmp_path, """
for i in range(5000):
    f(i)
dump_flight_recorder(%r)
""" % str(tmp_path / "snap.itr"), backend=backend)
    records = decode_binary(tmp_path / "snap.itr", tmp_path)
    assert len(_calls(records, "f")) == len(_calls(records, "leaf")) == 5000
    assert not [r for r in records if r["event"] == "lost"]
    check_nesting(records)
    rows = report_rows_by_name(tmp_path, tmp_path / "snap.itr")
    assert rows["__main__.f"]["calls"] == rows["__main__.leaf"]["calls"] == 5000


def test_recorder_alone_streams_nothing(tmp_path):
    """With the recorder and no sink configured, records go only to the recorder (not stderr)."""
    proc = _trace(tmp_path, "f(1)\ndump_flight_recorder(%r)" % str(tmp_path / "snap.itr"))
    assert "leaf" not in proc.stderr and "leaf" not in proc.stdout
    assert len(_calls(decode_binary(tmp_path / "snap.itr", tmp_path), "leaf")) == 1


def test_live_sink_beside_the_recorder(tmp_path):
    """A configured sink still streams every record while the recorder keeps them."""
    _trace(tmp_path, "for i in range(100):\n    f(i)\ndump_flight_recorder(%r)"
           % str(tmp_path / "snap.itr"),
           sinks="infi_tracing.configure_sinks([%r])" % jsonl_sink(tmp_path))
    live = read_jsonl(tmp_path / "trace.jsonl")
    kept = decode_binary(tmp_path / "snap.itr", tmp_path)
    assert len(_calls(live, "f")) == len(_calls(kept, "f")) == 100


def test_two_snapshots_in_a_row(tmp_path):
    """A snapshot leaves the recorder as it was: the second holds the first's calls and later ones."""
    _trace(tmp_path, """
for i in range(300):
    f(i)
dump_flight_recorder(%r)
for i in range(200):
    f(i)
dump_flight_recorder(%r)
""" % (str(tmp_path / "one.itr"), str(tmp_path / "two.itr")))
    assert len(_calls(decode_binary(tmp_path / "one.itr", tmp_path), "f")) == 300
    assert len(_calls(decode_binary(tmp_path / "two.itr", tmp_path), "f")) == 500


def test_snapshot_cut_into_short_writes_is_whole(tmp_path):
    """A snapshot whose writes signals cut short (a FIFO read 4 KiB at a time) holds every call."""
    fifo, out = tmp_path / "snap.fifo", tmp_path / "snap.itr"
    os.mkfifo(fifo)
    _trace(tmp_path, """
import os, signal, threading, time
for i in range(100_000):  # 400,000 records: about 2 MiB, more than one gathered write
    f(i)
signal.signal(signal.SIGUSR1, lambda *args: None)
main, done = threading.main_thread().ident, threading.Event()
fd = os.open(%r, os.O_RDONLY | os.O_NONBLOCK)
os.set_blocking(fd, True)
def reader():
    with open(%r, "wb") as out:
        while True:
            data = os.read(fd, 4096)
            if data:
                out.write(data)
                signal.pthread_kill(main, signal.SIGUSR1)  # the waiting write returns short
            elif done.is_set():
                return
            else:
                time.sleep(0.001)  # no writer yet
t = threading.Thread(target=reader)
t.start()
dump_flight_recorder(%r)
done.set()
t.join()
""" % (str(fifo), str(out), str(fifo)))
    records = decode_binary(out, tmp_path)
    assert len(_calls(records, "f")) == len(_calls(records, "leaf")) == 100_000
    assert not [r for r in records if r["event"] == "lost"]
    check_nesting([r for r in records if r.get("qualname") in ("f", "leaf")])  # not the reader's


def test_size_bound_keeps_the_newest_and_counts_the_rest(tmp_path):
    """Past its size the recorder drops the oldest records; a lost record counts them exactly."""
    calls = 400_000  # 800,000 records: several MiB packed, far more than 1M holds
    _trace(tmp_path, """
for i in range(%d):
    f(i)
dump_flight_recorder(%r)
""" % (calls, str(tmp_path / "snap.itr")), spec="30s,1M")
    records = decode_binary(tmp_path / "snap.itr", tmp_path)
    assert records[0]["event"] == "lost"
    kept = [r for r in records if r["event"] != "lost"]
    assert 0 < len(kept) < calls
    assert _lost(records) + len(kept) == 4 * calls
    assert kept[-1]["qualname"] == "f" and kept[-1]["event"] == "return"


def test_snapshots_of_a_wrapping_recorder_account_for_every_record(tmp_path):
    """After a snapshot gave its blocks back, the next one still counts every record exactly."""
    calls = 300_000
    _trace(tmp_path, """
for i in range(%d):
    f(i)
dump_flight_recorder(%r)
for i in range(%d):
    f(i)
dump_flight_recorder(%r)
""" % (calls, str(tmp_path / "one.itr"), calls, str(tmp_path / "two.itr")), spec="30s,1M")
    for name, total in (("one.itr", 4 * calls), ("two.itr", 8 * calls)):
        records = decode_binary(tmp_path / name, tmp_path)
        kept = [r for r in records if r["event"] != "lost"]
        assert records[0]["event"] == "lost"
        assert _lost(records) + len(kept) == total
        check_nesting(kept[kept.index(_calls(kept, "f")[0]):])


def test_window_bound_leaves_old_records_out(tmp_path):
    """Records older than the window are not in a snapshot; a lost record counts them."""
    _trace(tmp_path, """
import time
def old():
    pass
def new():
    pass
for i in range(50):
    old()
time.sleep(0.6)
for i in range(30):
    new()
dump_flight_recorder(%r)
""" % str(tmp_path / "snap.itr"), spec="300ms,4M")
    records = decode_binary(tmp_path / "snap.itr", tmp_path)
    assert records[0]["event"] == "lost" and records[0]["count"] == 100
    assert not _calls(records, "old") and len(_calls(records, "new")) == 30


def test_snapshot_is_cut_to_what_every_thread_covers(tmp_path):
    """A thread that wrapped defines the window: a quiet thread's older records are left out."""
    _trace(tmp_path, """
import threading
def quiet():
    pass
t = threading.Thread(target=quiet)
t.start(); t.join()
for i in range(400_000):
    f(i)
dump_flight_recorder(%r)
""" % str(tmp_path / "snap.itr"), spec="30s,1M")
    records = decode_binary(tmp_path / "snap.itr", tmp_path)
    assert not _calls(records, "quiet")
    main_lost = [r for r in records if r["event"] == "lost"]
    assert main_lost and all(r["count"] > 0 for r in main_lost)


def test_many_short_lived_threads_do_not_use_up_the_recorder(tmp_path):
    """Threads that ended keep no block for good: after more threads than the recorder has
    blocks, every later call is still kept."""
    proc = _trace(tmp_path, """
import threading
def brief():
    f(0)
for n in range(40):  # 1M holds 15 blocks
    t = threading.Thread(target=brief)
    t.start(); t.join()
for i in range(10):
    f(i)
dump_flight_recorder(%r)
print(threading.get_native_id(), infi_tracing.flight_recorder_stats()["dropped"])
""" % str(tmp_path / "snap.itr"), spec="30s,1M")
    tid, dropped = map(int, proc.stdout.split())
    records = decode_binary(tmp_path / "snap.itr", tmp_path)
    assert dropped == 0
    assert len([r for r in _calls(records, "f") if r["tid"] == tid]) == 10


def test_forked_child_has_its_own_empty_recorder(tmp_path):
    """After fork the child's snapshot holds only its own calls (its pid); the parent's, only its."""
    proc = _trace(tmp_path, """
def parent_work():
    pass
def child_work():
    pass
parent_work()
pid = os.fork()
if pid == 0:
    child_work()
    dump_flight_recorder(%r)
    os._exit(0)
os.waitpid(pid, 0)
dump_flight_recorder(%r)
print(pid)
""" % (str(tmp_path / "child.itr"), str(tmp_path / "parent.itr")), setup="import os")
    child = decode_binary(tmp_path / "child.itr", tmp_path)
    parent = decode_binary(tmp_path / "parent.itr", tmp_path)
    assert [r["qualname"] for r in child if r["event"] == "call"] == ["child_work"]
    assert {r["pid"] for r in child} == {int(proc.stdout)}
    assert [r["qualname"] for r in parent if r["event"] == "call"] == ["parent_work"]
    assert {r["pid"] for r in parent} != {int(proc.stdout)}


def test_snapshot_path_template_and_mode(tmp_path):
    """{pid} and {seq} are filled in (later snapshots do not overwrite earlier ones); files are 0600."""
    proc = _trace(tmp_path, """
print(dump_flight_recorder(%r))
print(dump_flight_recorder(%r))
print(os.getpid())
""" % ((str(tmp_path / "s-{pid}-{seq}.itr"),) * 2), setup="import os")
    first, second, pid = proc.stdout.split()
    assert (first, second) == (str(tmp_path / ("s-%s-1.itr" % pid)),
                               str(tmp_path / ("s-%s-2.itr" % pid)))
    assert stat.S_IMODE(os.stat(first).st_mode) == 0o600


def test_dump_without_recorder_is_refused():
    """dump_flight_recorder() with no recorder on raises RuntimeError saying how to start one."""
    import infi_tracing
    with pytest.raises(RuntimeError, match="no flight recorder is on"):
        infi_tracing.dump_flight_recorder("/nonexistent/x.itr")


@pytest.mark.parametrize("spec, message", [
    ("30x,64M", "cannot read '30x'"),
    ("30m,64M", "ambiguous"),
    ("30s,30s", "twice"),
    ("30s,1K", "size must be bytes between"),
    ("path=", "path= needs"),
])
def test_bad_spec_is_refused_naming_the_argument(spec, message):
    """A bad flight_recorder spec raises ValueError naming the argument and the part."""
    import infi_tracing
    with pytest.raises(ValueError, match="flight_recorder: .*" + message):
        infi_tracing.set_tracing(flight_recorder=spec)


def test_bad_spec_in_environment_and_cli_names_its_source(tmp_path):
    """INFI_TRACING_FLIGHT_RECORDER and --flight-recorder errors name the variable and option."""
    (tmp_path / "p.py").write_text("pass\n")
    env = run_cli(tmp_path, "run", "p.py", env={"INFI_TRACING_FLIGHT_RECORDER": "30q"})
    cli = run_cli(tmp_path, "run", "--flight-recorder", "30q", "p.py")
    assert env.returncode == cli.returncode == 2
    assert "INFI_TRACING_FLIGHT_RECORDER: cannot read '30q'" in env.stderr
    assert "--flight-recorder: cannot read '30q'" in cli.stderr


def test_spec_fields():
    """A full spec: window, size, slow rules, at-exit, on-exception and a path with commas."""
    from infi_tracing._flight import parse_flight_recorder
    rec = parse_flight_recorder("1.5min,2G,dump-on-slow=app.*>5ms,at-exit,on-exception=no,"
                                "path=/x/{pid},y.itr")
    assert (rec.window, rec.size, rec.at_exit, rec.on_exception, rec.path) == (
        90.0, 2 << 30, True, False, "/x/{pid},y.itr")
    assert [(r.glob, r.seconds) for r in rec.dump_on_slow] == [("app.*", 0.005)]


# A binary sink beside the recorder, on a FIFO whose reader (another process) takes 1 MiB,
# then sleeps 20 ms: the drain (the one thread serving every sink) stalls in write() now and
# then, so the traced thread's ring overflows while the recorder fills and takes blocks back.
STALLING_SINK = """
import os, subprocess, sys, time
os.mkfifo("stall.fifo")
READER = subprocess.Popen([sys.executable, "-c",
    "import os, sys, time\\n"
    "fd = os.open('stall.fifo', os.O_RDONLY)\\n"
    "while True:\\n"
    "    got = 0\\n"
    "    while got < 1 << 20:\\n"
    "        n = len(os.read(fd, 1 << 16))\\n"
    "        if not n: sys.exit(0)\\n"
    "        got += n\\n"
    "    time.sleep(0.02)\\n"])
while True:
    try:
        infi_tracing.configure_sinks(["binary:stall.fifo"])
        break
    except OSError:
        time.sleep(0.01)  # the reader has not opened it yet
"""


def test_ring_drops_in_blocks_taken_back_are_still_counted(tmp_path):
    """Records the ring dropped (its `lost` notices) count in the snapshot even when the
    blocks holding those notices were taken back for room: lost + kept = every record."""
    calls = 1_000_000
    proc = _trace(tmp_path, "for i in range(%d):\n    f(i)\ndump_flight_recorder(%r)"
                  % (calls, str(tmp_path / "snap.itr")), spec="30s,1M", sinks=STALLING_SINK,
                  options="overflow='drop', buffer_size=64 * 1024",
                  end="print(infi_tracing.tracing_stats()['lost'])")
    assert int(proc.stdout.split()[-1]) > 0  # the ring did drop records
    records = decode_binary(tmp_path / "snap.itr", tmp_path)
    kept = [r for r in records if r["event"] != "lost"]
    assert _lost(records) + len(kept) == 4 * calls
