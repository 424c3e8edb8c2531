"""Perfetto protobuf (issue #11, item 4): the native perfetto+proto:// sink, read
back with the Perfetto project's own bindings (perfetto_trace_pb2) and checked
slice for slice against a binary trace of the same run."""

import os
from collections import defaultdict

import pytest
from perfetto.protos.perfetto.trace import perfetto_trace_pb2 as pb

from binary_files import CALL, LOG, LOST, RETURN, code_chunk, packed_chunk, raw, trace
from helpers import FORKED_CHILD, SINK_CLASSES, run_cli, run_traced_program, write
from reference_binary import read_records

pytestmark = pytest.mark.native  # make test-asan runs these

CLEARED = pb.TracePacket.SEQ_INCREMENTAL_STATE_CLEARED
INCREMENTAL_CLOCK = 64
MONOTONIC = 3
ENTRIES, EXITS = ("call", "resume"), ("return", "exception", "yield")

BOTH_SINKS = "infi_tracing.configure_sinks(['perfetto+proto://%s/trace.pftrace', " \
             "'binary://%s/trace.itr'%s])"

THREADS_AND_GREENLETS = """
import threading
import gevent

def leaf(n):
    return n * 2

def work(n, pause):
    total = 0
    for i in range(n):
        total += leaf(i)
    if pause:
        gevent.sleep(0)
    return total

def in_thread():
    for i in range(3):
        work(5, False)

t = threading.Thread(target=in_thread)
t.start()
t.join()
gevent.joinall([gevent.spawn(work, 10, True) for _ in range(4)])
"""


# --- reading a .pftrace as Perfetto does ------------------------------------------------

class Pftrace:
    """A .pftrace file read with perfetto_trace_pb2 and Perfetto's rules for
    sequences: incremental state, defaults, the incremental clock, interning.

    `tracks`: uuid -> TrackDescriptor; `slices`: (track uuid, name, begin ns,
    end ns, cut reason or None) per BEGIN/END pair; `instants`: (track uuid,
    name, ns); `packets`: the parsed packets; `open`: slices never ended."""

    def __init__(self, path):
        trace = pb.Trace()
        with open(path, "rb") as f:
            trace.ParseFromString(f.read())
        self.packets = list(trace.packet)
        self.tracks, self.slices, self.instants = {}, [], []
        sequences, stacks, snapshots = {}, defaultdict(list), 0
        for packet in self.packets:
            assert packet.HasField("trusted_packet_sequence_id"), packet
            seq = packet.trusted_packet_sequence_id
            if packet.sequence_flags & CLEARED:
                sequences[seq] = {"names": {}, "track": None, "clock": None, "now": None}
            state = sequences[seq]  # KeyError: a packet before its sequence's first
            if packet.HasField("trace_packet_defaults"):
                defaults = packet.trace_packet_defaults
                state["clock"] = defaults.timestamp_clock_id
                state["track"] = defaults.track_event_defaults.track_uuid
            if packet.HasField("clock_snapshot"):
                snapshot = packet.clock_snapshot
                if not snapshots:  # the file's first names the trace's clock
                    assert snapshot.primary_trace_clock == MONOTONIC
                snapshots += 1
                clocks = {c.clock_id: c for c in snapshot.clocks}
                assert clocks[INCREMENTAL_CLOCK].is_incremental
                assert clocks[INCREMENTAL_CLOCK].timestamp == clocks[MONOTONIC].timestamp
                state["now"] = clocks[INCREMENTAL_CLOCK].timestamp
                continue  # Perfetto reads nothing else of such a packet
            for name in packet.interned_data.event_names:
                state["names"][name.iid] = name.name
            if packet.HasField("track_descriptor"):
                self.tracks[packet.track_descriptor.uuid] = packet.track_descriptor
            if not packet.HasField("track_event"):
                continue
            clock = packet.timestamp_clock_id or state["clock"]
            if clock == INCREMENTAL_CLOCK:
                state["now"] += packet.timestamp
                ts = state["now"]
            else:
                assert clock == MONOTONIC
                ts = packet.timestamp
            event = packet.track_event
            track = event.track_uuid if event.HasField("track_uuid") else state["track"]
            if event.type == pb.TrackEvent.TYPE_SLICE_BEGIN:
                assert not event.HasField("name"), "names are interned"
                stacks[track].append((state["names"][event.name_iid], ts))
            elif event.type == pb.TrackEvent.TYPE_SLICE_END:
                name, begin = stacks[track].pop()
                cut = [a.string_value for a in event.debug_annotations if a.name == "cut"]
                self.slices.append((track, name, begin, ts, cut[0] if cut else None))
            else:
                assert event.type == pb.TrackEvent.TYPE_INSTANT
                self.instants.append((track, event.name, ts))
        self.open = {track: stack for track, stack in stacks.items() if stack}

    def greenlet_of(self, uuid):
        """(pid, tid, greenlet) of a greenlet track, checking its nesting: greenlet
        track -> thread track (ThreadDescriptor) -> process track (ProcessDescriptor)."""
        track = self.tracks[uuid]
        assert track.name.startswith("greenlet ")
        thread = self.tracks[track.parent_uuid].thread
        assert any(t.process.pid == thread.pid for t in self.tracks.values()
                   if t.HasField("process")), "no process track for pid %d" % thread.pid
        return thread.pid, thread.tid, int(track.name.split()[1])

    def thread_of(self, uuid):
        """(pid, tid) of a thread track."""
        thread = self.tracks[uuid].thread
        return thread.pid, thread.tid

    def keyed_slices(self):
        """Every slice as (pid, tid, greenlet, name, begin, end, cut reason)."""
        return sorted((*self.greenlet_of(track), name, begin, end, cut)
                      for track, name, begin, end, cut in self.slices)


def expected_slices(records):
    """The slices a binary trace's records make: entries paired with exits by
    depth per (pid, tid, greenlet) (native/it_pair.h's rule); an exit without
    its entry is left out; entries still open at the end end at the trace's
    last time, cut; a "lost" record cuts what its thread had open."""
    stacks, slices = defaultdict(list), []
    last = max(r["mono_ns"] for r in records if r["event"] != "switch")  # switches: not slices

    def cut(stack, key, ts, why):
        while stack:
            name, begin, _ = stack.pop()
            slices.append((*key, name, begin, ts, why))

    for rec in records:
        if rec["event"] == "lost":
            for key, stack in stacks.items():
                if key[:2] == (rec["pid"], rec["tid"]):
                    cut(stack, key, rec["mono_ns"], "records of its thread were lost")
            continue
        if rec["event"] not in ENTRIES + EXITS:
            continue
        key = (rec["pid"], rec["tid"], rec["greenlet"])
        stack, depth = stacks[key], rec["depth"]
        entry = rec["event"] in ENTRIES
        while stack and (stack[-1][2] > depth or (entry and stack[-1][2] == depth)):
            name, begin, _ = stack.pop()
            slices.append((*key, name, begin, rec["mono_ns"],
                           "its exit is not in the trace (records lost)"))
        name = "%s.%s" % (rec["module"], rec["qualname"])
        if entry:
            stack.append((name, rec["mono_ns"], depth))
        elif stack and stack[-1][2] == depth:
            _, begin, _ = stack.pop()
            slices.append((*key, name, begin, rec["mono_ns"], None))
    for key, stack in stacks.items():
        cut(stack, key, last, "the trace ends before its exit")
    return sorted(slices)


def _traced(tmp_path, body, also="", **source):
    """Trace `body` into trace.pftrace and trace.itr at once (and sinks `also`, source text
    of list items); (Pftrace, binary records)."""
    source.setdefault("tracing_args", "overflow='block'")
    run_traced_program(tmp_path, body, sinks=BOTH_SINKS % (tmp_path, tmp_path, also), **source)
    return Pftrace(tmp_path / "trace.pftrace"), list(read_records(str(tmp_path / "trace.itr")))


# --- the live sink ------------------------------------------------------------------------

def test_live_sink_slices_match_the_binary_trace(tmp_path, backend):
    """Threads and gevent greenlets: every slice (track, name, begin, end) is the binary's."""
    trace, records = _traced(tmp_path, THREADS_AND_GREENLETS, backend=backend)
    assert trace.keyed_slices() == expected_slices(records)
    greenlets = {r["greenlet"] for r in records if r.get("qualname") == "work"}
    assert len(greenlets) >= 5 and not trace.open  # the thread's and four spawned


def test_tracks_nest_greenlet_under_thread_under_process(tmp_path):
    """Each greenlet's track has its thread's track as parent; each thread's pid has a process track."""
    trace, records = _traced(tmp_path, THREADS_AND_GREENLETS)
    keys = {trace.greenlet_of(track) for track, *_ in trace.slices}
    assert keys == {(r["pid"], r["tid"], r["greenlet"]) for r in records
                    if r["event"] in ENTRIES}
    assert len({(pid, tid) for pid, tid, _ in keys}) == 2


def test_names_are_interned_once_per_sequence(tmp_path):
    """Every event name comes from InternedData.event_names, each iid interned once per sequence."""
    trace, _ = _traced(tmp_path, "def f():\n    pass\nfor i in range(1000):\n    f()\n")
    interned = defaultdict(list)
    for packet in trace.packets:
        for name in packet.interned_data.event_names:
            interned[packet.trusted_packet_sequence_id, name.iid].append(name.name)
    assert interned and all(len(names) == 1 for names in interned.values())
    begins = [p for p in trace.packets if p.track_event.type == pb.TrackEvent.TYPE_SLICE_BEGIN]
    assert len(begins) >= 1000 and all(p.track_event.name_iid for p in begins)


def test_first_packet_of_each_sequence_clears_incremental_state(tmp_path):
    """A sequence starts with SEQ_INCREMENTAL_STATE_CLEARED, its defaults and its clock snapshot."""
    trace, _ = _traced(tmp_path, THREADS_AND_GREENLETS)
    first = {}
    for packet in trace.packets:
        first.setdefault(packet.trusted_packet_sequence_id, packet)
    assert len(first) >= 6
    primary = [p.clock_snapshot.primary_trace_clock for p in first.values()]
    assert primary[0] == MONOTONIC and not any(primary[1:])  # named once, in the first
    for packet in first.values():
        assert packet.sequence_flags == CLEARED
        assert packet.trace_packet_defaults.timestamp_clock_id == INCREMENTAL_CLOCK
        assert packet.HasField("clock_snapshot")


UNSET_INSIDE = """
def stops():
    infi_tracing.unset_tracing()

def outer():
    stops()

outer()
infi_tracing.set_tracing(overflow='block')
"""


def test_slices_open_when_tracing_stops_end_at_the_last_time_cut(tmp_path):
    """Calls still running when the trace ends end at its last time, annotated "cut"."""
    trace, records = _traced(tmp_path, UNSET_INSIDE)
    cut = {name: why for *_, name, begin, end, why in trace.keyed_slices() if why}
    assert cut["__main__.outer"] == "the trace ends before its exit"
    assert trace.keyed_slices() == expected_slices(records)


OVERFLOWING = """
import threading

def f(i):
    return i

def spin():
    for i in range(20000):
        f(i)

threads = [threading.Thread(target=spin) for _ in range(3)]
for t in threads:
    t.start()
for t in threads:
    t.join()
"""


def test_lost_records_are_instants_on_their_threads(tmp_path):
    """Ring overflow: "lost N records" instants on the thread's track sum to the binary's lost counts."""
    trace, records = _traced(tmp_path, OVERFLOWING, also=", Slow()", setup=SINK_CLASSES,
                             tracing_args="buffer_size=65536")  # the ring overflows behind Slow
    lost = defaultdict(int)
    for r in records:
        if r["event"] == "lost":
            lost[r["pid"], r["tid"]] += r["count"]
    assert lost, "the ring never overflowed: no lost records to check"
    shown = defaultdict(int)
    for track, name, _ in trace.instants:
        assert name.startswith("lost ") and name.endswith(" records")
        shown[trace.thread_of(track)] += int(name.split()[1])
    assert shown == lost
    # where the gaps fall depends on the drain's timing: test_decode_lost_* pins the cuts down
    assert trace.keyed_slices() == expected_slices(records)


def test_forked_child_writes_a_file_of_its_own(tmp_path):
    """fork: the child's slices go to trace.<child pid>.pftrace, the parent's stay in trace.pftrace."""
    body = "def in_child():\n    return 1\n" + FORKED_CHILD
    trace, records = _traced(tmp_path, body)
    parent = trace.keyed_slices()[0][0]
    [child] = {r["pid"] for r in records} - {parent}
    child_trace = Pftrace(tmp_path / ("trace.%d.pftrace" % child))
    for pid, pftrace in ((parent, trace), (child, child_trace)):
        assert pftrace.keyed_slices() == expected_slices([r for r in records if r["pid"] == pid])
    assert "__main__.in_child" in {name for _, _, _, name, *_ in child_trace.keyed_slices()}


FORK_AND_EXIT = """
import os
infi_tracing.unset_tracing()  # the sinks stay configured
pid = os.fork()
if pid == 0:
    os._exit(0)
os.waitpid(pid, 0)
print(pid)
"""


def test_forked_child_that_records_nothing_leaves_no_file(tmp_path):
    """Forked while tracing is off, the child records nothing: no trace.<pid>.pftrace appears."""
    proc = run_traced_program(tmp_path, FORK_AND_EXIT, sinks="infi_tracing.configure_sinks("
                              "['perfetto+proto://%s/trace.pftrace'])" % tmp_path)
    child = int(proc.stdout.split()[-1])
    assert (tmp_path / "trace.pftrace").exists()
    assert not (tmp_path / ("trace.%d.pftrace" % child)).exists()


SPAWNS = """
import multiprocessing, os

def work(i):
    return i

if __name__ == "__main__":
    p = multiprocessing.get_context("spawn").Process(target=work, args=(1,))
    p.start()
    p.join(60)
    print(p.pid)
"""


def test_run_gives_a_spawned_child_a_file_of_its_own(tmp_path):
    """`run --sink perfetto+proto://...trace.pftrace`: a spawned child writes trace.<pid>.pftrace."""
    write(tmp_path / "prog.py", SPAWNS)
    proc = run_cli(tmp_path, "run", "--no-summary", "--include", "prog.py", "--sink",
                   "perfetto+proto://%s/trace.pftrace" % tmp_path, "prog.py")
    assert proc.returncode == 0, proc.stderr
    child = int(proc.stdout.split()[-1])
    own = Pftrace(tmp_path / ("trace.%d.pftrace" % child)).keyed_slices()
    assert {key[0] for key in own} == {child}
    assert "__mp_main__.work" in {name for _, _, _, name, *_ in own}
    assert child not in {key[0] for key in Pftrace(tmp_path / "trace.pftrace").keyed_slices()}


CHURN = """
import gevent

def handle(i):
    return i

for i in range(3000):
    gevent.spawn(handle, i).join()
"""


def test_thousands_of_short_greenlets_keep_sequence_ids_small(tmp_path):
    """3000 greenlets one after another: every slice right, and sequence ids are reused."""
    trace, records = _traced(tmp_path, CHURN)
    assert trace.keyed_slices() == expected_slices(records)
    assert len({key[2] for key in trace.keyed_slices()}) > 3000
    assert max(p.trusted_packet_sequence_id for p in trace.packets) < 1000


def test_pid_in_the_path_names_the_process(tmp_path):
    """perfetto+proto:///trace.{pid}.pftrace writes trace.<pid>.pftrace."""
    proc = run_traced_program(
        tmp_path, "def f():\n    pass\nf()\nprint(os.getpid())",
        setup="import os",
        sinks="infi_tracing.configure_sinks(['perfetto+proto://%s/trace.{pid}.pftrace'])"
        % tmp_path)
    trace = Pftrace(tmp_path / ("trace.%s.pftrace" % proc.stdout.strip()))
    assert [name for _, name, *_ in trace.slices] == ["__main__.f"]


def test_a_host_in_the_url_is_refused(tmp_path):
    """perfetto+proto://host/path: the error names the sink and says the path must be local."""
    from infi_tracing import _config
    with pytest.raises(ValueError, match="perfetto\\+proto://h/x.pftrace.*must be local"):
        _config.parse_sink_spec("perfetto+proto://h/x.pftrace")


KILLED = """
import os, signal
def f(i):
    return i
for i in range(50000):
    f(i)
infi_tracing.flush_tracing()
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_file_of_a_killed_process_loads_as_far_as_it_goes(tmp_path):
    """SIGKILL after a flush: the file holds whole packets only, and every flushed call."""
    proc = run_traced_program(tmp_path, KILLED, check=False,
                              sinks="infi_tracing.configure_sinks(['perfetto+proto://%s/t.pftrace'])"
                              % tmp_path, tracing_args="overflow='block'")
    assert proc.returncode == -9
    trace = Pftrace(tmp_path / "t.pftrace")
    assert sum(name == "__main__.f" for _, name, *_ in trace.slices) == 50000


def test_protobuf_is_much_smaller_than_the_json(tmp_path):
    """The same run to perfetto:// (JSON) and perfetto+proto://: the protobuf is under 1/6 of it."""
    run_traced_program(
        tmp_path, "def f(i):\n    return g(i)\ndef g(i):\n    return i\nfor i in range(30000):\n"
        "    f(i)\n", tracing_args="overflow='block'",
        sinks="infi_tracing.configure_sinks(['perfetto+proto://%s/t.pftrace', "
        "'perfetto://%s/t.json'])" % (tmp_path, tmp_path))
    proto, json_size = os.path.getsize(tmp_path / "t.pftrace"), os.path.getsize(tmp_path / "t.json")
    assert proto * 6 < json_size, (proto, json_size)


# --- decode --format perfetto-proto ------------------------------------------------------

def _decode(tmp_path, source, *more):
    """`decode SOURCE --format perfetto-proto -o out.pftrace`: (process, Pftrace or None)."""
    out = tmp_path / "out.pftrace"
    proc = run_cli(tmp_path, "decode", source, "--format", "perfetto-proto", "-o", out, *more)
    return proc, Pftrace(out) if out.exists() else None


def test_decode_slices_match_the_binary_trace(tmp_path):
    """decode of a threads-and-greenlets binary trace: every slice is the binary's."""
    run_traced_program(tmp_path, THREADS_AND_GREENLETS, tracing_args="overflow='block'",
                       sinks="infi_tracing.configure_sinks(['binary://%s/trace.itr'])" % tmp_path)
    proc, decoded = _decode(tmp_path, tmp_path / "trace.itr")
    assert proc.returncode == 0, proc.stderr
    records = list(read_records(str(tmp_path / "trace.itr")))
    assert decoded.keyed_slices() == expected_slices(records)
    assert len({key[:3] for key in decoded.keyed_slices()}) >= 6


def _file(tmp_path, *entries):
    """A binary trace of f (code 1) and g (code 2), pid 100, thread 101."""
    path = tmp_path / "t.itr"
    path.write_bytes(trace(code_chunk(1, "f"), code_chunk(2, "g"), packed_chunk(list(entries))))
    return path


def test_decode_leaves_out_an_exit_whose_entry_is_not_in_the_trace(tmp_path):
    """The trace starts inside g: g's return makes no slice, f's call and return make one."""
    path = _file(tmp_path, (RETURN, 2, 1000, 1, 1), (CALL, 1, 2000, 0, 1), (RETURN, 1, 3000, 0, 1))
    proc, decoded = _decode(tmp_path, path)
    assert proc.returncode == 0, proc.stderr
    assert decoded.keyed_slices() == [(100, 101, 1, "mod.f", 2000, 3000, None)]


def test_decode_lost_records_cut_open_slices_and_show_an_instant(tmp_path):
    """f > g open at a 'lost 7' record: both end there, cut; their returns after it are left out."""
    path = _file(tmp_path, (CALL, 1, 4000, 0, 1), (CALL, 2, 4500, 1, 1),
                 raw(LOST, ts=5000, count=7), (RETURN, 2, 5500, 1, 1), (RETURN, 1, 6000, 0, 1))
    proc, decoded = _decode(tmp_path, path)
    assert proc.returncode == 0, proc.stderr
    why = "records of its thread were lost"
    assert decoded.keyed_slices() == [(100, 101, 1, "mod.f", 4000, 5000, why),
                                      (100, 101, 1, "mod.g", 4500, 5000, why)]
    [(track, name, ts)] = decoded.instants
    assert (decoded.thread_of(track), name, ts) == ((100, 101), "lost 7 records", 5000)


def test_decode_log_record_is_an_instant_on_its_greenlet(tmp_path):
    """A log record: an instant "LEVEL logger: message" on its greenlet's track."""
    path = _file(tmp_path, (CALL, 1, 1000, 0, 3),
                 raw(LOG, greenlet=3, ts=1500, values=("WARNING", "app", "disk full")),
                 (RETURN, 1, 2000, 0, 3))
    proc, decoded = _decode(tmp_path, path)
    assert proc.returncode == 0, proc.stderr
    [(track, name, ts)] = decoded.instants
    assert (decoded.greenlet_of(track), name, ts) == ((100, 101, 3), "WARNING app: disk full", 1500)


def test_decode_of_a_cut_file_writes_what_it_read_and_names_the_offset(tmp_path):
    """A file cut inside its last chunk: exit 1, the file and byte offset on stderr, the rest written."""
    whole = trace(code_chunk(1, "f"), packed_chunk([(CALL, 1, 1000, 0, 1), (RETURN, 1, 2000, 0, 1)]),
                  packed_chunk([(CALL, 1, 3000, 0, 1), (RETURN, 1, 4000, 0, 1)]))
    path = tmp_path / "cut.itr"
    path.write_bytes(whole[:-5])
    proc, decoded = _decode(tmp_path, path)
    assert proc.returncode == 1
    assert str(path) in proc.stderr and "at byte " in proc.stderr, proc.stderr
    assert decoded.keyed_slices() == [(100, 101, 1, "mod.f", 1000, 2000, None)]


def test_decode_protobuf_is_much_smaller_than_decode_json(tmp_path):
    """decode to perfetto-proto vs to perfetto (JSON), same binary: under 1/6 of the size."""
    run_traced_program(
        tmp_path, "def f(i):\n    return g(i)\ndef g(i):\n    return i\nfor i in range(30000):\n"
        "    f(i)\n", tracing_args="overflow='block'",
        sinks="infi_tracing.configure_sinks(['binary://%s/t.itr'])" % tmp_path)
    proc, _ = _decode(tmp_path, tmp_path / "t.itr")
    assert proc.returncode == 0, proc.stderr
    json_proc = run_cli(tmp_path, "decode", tmp_path / "t.itr", "--format", "perfetto", "-q",
                        "-o", tmp_path / "t.json")
    assert json_proc.returncode == 0, json_proc.stderr
    proto, json_size = (os.path.getsize(tmp_path / "out.pftrace"),
                        os.path.getsize(tmp_path / "t.json"))
    assert proto * 6 < json_size, (proto, json_size)


def test_decode_to_an_unwritable_output_names_it(tmp_path):
    """-o into a missing folder: exit 1 and the output path in the error."""
    path = _file(tmp_path, (CALL, 1, 1000, 0, 1), (RETURN, 1, 2000, 0, 1))
    out = tmp_path / "missing" / "x.pftrace"
    proc = run_cli(tmp_path, "decode", path, "--format", "perfetto-proto", "-o", out)
    assert proc.returncode == 1 and str(out) in proc.stderr, proc.stderr
