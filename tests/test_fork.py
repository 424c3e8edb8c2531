"""Tracing across fork: children trace under their own pid with their own drain,
nothing buffered is written twice, multiprocessing (fork and spawn), a
pre-forking gevent server, and fork in a tight loop under load."""

import pytest

from helpers import BACKENDS, check_nesting, count_by, read_jsonl, run_for_fields, run_python

pytestmark = pytest.mark.native  # make test-asan runs these

FORK_WITH_BUFFERED_RECORDS = """
import os, sys, threading, time, warnings
import infi_tracing, infi_tracing.sinks
warnings.filterwarnings("ignore", "This process", DeprecationWarning)
N, M, K = 5000, 300, 200

class Gate:
    # A Python sink that keeps the drain inside its first batch for a while, so
    # that everything recorded before the fork is still buffered at the fork.
    def __init__(self):
        self.inside = threading.Event()
        self.first = True
    def write(self, batch):
        if self.first:
            self.first = False
            self.inside.set()
            time.sleep(0.3)
    def flush(self):
        pass
    def close(self):
        pass

gate = Gate()
infi_tracing.set_sinks([gate, infi_tracing.sinks.FileSink("trace.jsonl", "jsonl")])
NAMES = {"before", "in_thread", "in_child", "after"}
infi_tracing.set_tracing(lambda frame: frame.f_code.co_name in NAMES, backend=%(backend)r,
                         overflow="block")

def before(i):
    return i

def in_thread(i):
    return i

def in_child(i):
    return i

def after(i):
    return i

hold = threading.Event()
def thread_main():
    for i in range(N):
        in_thread(i)
    hold.wait()

t = threading.Thread(target=thread_main)
t.start()
for i in range(N):
    before(i)
assert gate.inside.wait(10)
pid = os.fork()
if pid == 0:
    tasks = len(os.listdir("/proc/self/task"))
    for i in range(M):
        in_child(i)
    me = '"pid":%%d,' %% os.getpid()
    deadline = time.monotonic() + 10
    seen = 0
    while time.monotonic() < deadline and seen < 2 * M:  # no flush: the child's drain writes
        with open("trace.jsonl") as f:
            seen = sum(1 for line in f if me in line and '"in_child"' in line)
        time.sleep(0.01)
    print("child", tasks, seen, flush=True)
    infi_tracing.unset_tracing()
    os._exit(0)
for i in range(K):
    after(i)
_, status = os.waitpid(pid, 0)
hold.set()
t.join()
infi_tracing.unset_tracing()
print("pids", os.getpid(), pid, t.native_id, status)
"""


@pytest.fixture(scope="module", params=BACKENDS)
def fork_run(request, tmp_path_factory):
    """One run of FORK_WITH_BUFFERED_RECORDS per backend: (parent, child, thread tid,
    the child's report, records)."""
    tmp_path = tmp_path_factory.mktemp("fork-" + request.param)
    lines = run_for_fields(tmp_path, FORK_WITH_BUFFERED_RECORDS % {"backend": request.param},
                           timeout=60)
    parent, child, thread_tid, status = map(int, lines["pids"].split())
    assert status == 0
    return parent, child, thread_tid, lines["child"], read_jsonl(tmp_path / "trace.jsonl")


def test_forked_child_traces_with_its_own_pid_and_drain(fork_run):
    """The child has its own drain thread, which writes its records unprompted, under its pid."""
    parent, child, _, child_report, records = fork_run
    tasks, seen = map(int, child_report.split())
    assert tasks == 2, "the child should run its main thread and its own drain"
    assert seen == 600, "the child's drain did not write its records without a flush"
    calls = [r for r in records if r["qualname"] == "in_child"]
    assert {r["pid"] for r in calls} == {child} and child != parent


def test_records_buffered_at_fork_are_written_once_by_the_parent(fork_run):
    """Records of the forking and of another thread, still buffered at fork, appear once, as the parent's."""
    parent, child, thread_tid, _, records = fork_run
    assert count_by(records, "pid", "qualname") == {
        (parent, "before"): 10_000, (parent, "in_thread"): 10_000,
        (parent, "after"): 400, (child, "in_child"): 600}
    assert {r["tid"] for r in records if r["qualname"] == "in_thread"} == {thread_tid}
    check_nesting(records)


def test_forked_child_records_carry_its_own_thread_id(fork_run):
    """In the child, the forking thread is a new OS thread (tid == the child's pid): records say so."""
    parent, child, _, _, records = fork_run
    child_tids = {r["tid"] for r in records if r["pid"] == child}
    assert child_tids == {child}, "child records carry tid %r (the parent's thread; parent pid %d)" \
        % (sorted(child_tids), parent)


def test_fork_warns_no_more_than_without_tracing(tmp_path, backend):
    """os.fork() in a single-threaded program warns about threads neither before nor while tracing."""
    proc = run_python(tmp_path, """
import os, warnings, infi_tracing

def fork_and_collect():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
    return [str(w.message)[:60] for w in caught]

untraced = fork_and_collect()
infi_tracing.tracing_output_to_file("trace.jsonl", format="jsonl")
infi_tracing.set_tracing(backend=%r)
traced = fork_and_collect()
infi_tracing.unset_tracing()
print(untraced, traced)
assert traced == untraced, "tracing made fork() warn: %%r" %% traced
""" % backend, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


MULTIPROCESSING = """
import os, sys, warnings, multiprocessing
import infi_tracing
warnings.filterwarnings("ignore", "This process", DeprecationWarning)
K = 500

def work(i):
    return i

def parent_work(i):
    return i

def only_work(frame):
    return frame.f_code.co_name in ("work", "parent_work")

def traced_child():
    for i in range(K):
        work(i)
    # a fork child of multiprocessing leaves through os._exit(): flush what must arrive
    infi_tracing.flush_tracing()

def untraced_spawn_child():
    assert infi_tracing.tracing_stats()["active"] is False
    for i in range(K):
        work(i)

def self_tracing_spawn_child():
    infi_tracing.tracing_output_to_file("trace.jsonl", format="jsonl")
    infi_tracing.set_tracing(only_work, backend=%(backend)r)
    for i in range(K):
        work(i)
    # no flush: a spawned child leaves through sys.exit(), so the atexit flush runs

if __name__ == "__main__":
    infi_tracing.tracing_output_to_file("trace.jsonl", format="jsonl")
    infi_tracing.set_tracing(only_work, backend=%(backend)r, overflow="block")
    for i in range(K):
        parent_work(i)  # still buffered when the children start
    ctx = multiprocessing.get_context(%(method)r)
    targets = %(targets)s
    procs = [ctx.Process(target=t) for t in targets]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    infi_tracing.unset_tracing()
    print("pids", os.getpid(), *[p.pid for p in procs])
    print("exitcodes", *[p.exitcode for p in procs])
"""


def _run_multiprocessing(tmp_path, backend, method, targets):
    lines = run_for_fields(tmp_path, MULTIPROCESSING % {"backend": backend, "method": method,
                                                        "targets": targets}, timeout=90)
    assert lines["exitcodes"].split() == ["0"] * len(lines["pids"].split()[1:])
    pids = list(map(int, lines["pids"].split()))
    return pids[0], pids[1:], read_jsonl(tmp_path / "trace.jsonl")


def test_multiprocessing_fork_children_trace_under_their_own_pids(tmp_path, backend):
    """Three multiprocessing fork children: each one's flushed records, exactly, under its pid."""
    parent, children, records = _run_multiprocessing(
        tmp_path, backend, "fork", "[traced_child] * 3")
    expected = {(child, "work"): 1000 for child in children}
    expected[parent, "parent_work"] = 1000
    assert count_by(records, "pid", "qualname") == expected
    check_nesting(records)


def test_multiprocessing_spawn_child_traces_only_if_it_asks(tmp_path, backend):
    """A spawned child does not inherit tracing; one that calls set_tracing() itself is traced."""
    parent, (untraced, self_traced), records = _run_multiprocessing(
        tmp_path, backend, "spawn", "[untraced_spawn_child, self_tracing_spawn_child]")
    assert count_by(records, "pid", "qualname") == {
        (parent, "parent_work"): 1000, (self_traced, "work"): 1000}
    assert untraced not in {r["pid"] for r in records}
    check_nesting(records)


PREFORK_SERVER = """
import os, signal, socket, sys, warnings
import infi_tracing
import gevent
warnings.filterwarnings("ignore", "This process", DeprecationWarning)
infi_tracing.tracing_output_to_file("trace.jsonl", format="jsonl")
infi_tracing.set_tracing(lambda frame: frame.f_globals.get("__name__") == "__main__",
                         backend=%(backend)r, overflow="block")
WORKERS, MIN_REQUESTS, MAX_REQUESTS, BATCH = 3, 60, 1200, 12

def compute(n):
    gevent.sleep(0.001)          # every request switches greenlets mid-chain
    return n * 2

def respond(f, n):
    f.write(b"%%d %%d\\n" %% (os.getpid(), compute(n)))
    f.flush()

def handle(sock, address):
    f = sock.makefile("rwb")
    respond(f, int(f.readline()))
    f.close()
    sock.close()

def worker(listener):
    import gevent.server, gevent.socket
    gevent.reinit()
    gsock = gevent.socket.socket(fileno=listener.detach())
    gsock.setblocking(False)
    server = gevent.server.StreamServer(gsock, handle)
    gevent.signal_handler(signal.SIGTERM, server.stop)
    server.serve_forever()
    infi_tracing.unset_tracing()
    os._exit(0)

listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(256)
port = listener.getsockname()[1]
workers = []
for _ in range(WORKERS):
    pid = os.fork()
    if pid == 0:
        worker(listener)
    workers.append(pid)
listener.close()

served = {}
sent = 0
while sent < MAX_REQUESTS and (len(served) < WORKERS or sent < MIN_REQUESTS):
    conns = []
    for _ in range(BATCH):
        conn = socket.create_connection(("127.0.0.1", port), timeout=20)
        conn.sendall(b"%%d\\n" %% sent)
        conns.append((sent, conn))
        sent += 1
    for n, conn in conns:
        pid, value = map(int, conn.makefile("rb").readline().split())
        assert value == 2 * n, (n, value)
        served[pid] = served.get(pid, 0) + 1
        conn.close()
for pid in workers:
    os.kill(pid, signal.SIGTERM)
statuses = [os.waitpid(pid, 0)[1] for pid in workers]
infi_tracing.unset_tracing()
print("served", sent, " ".join("%%d:%%d" %% item for item in sorted(served.items())))
print("workers", *workers)
print("statuses", *statuses)
"""


def test_preforking_gevent_server_workers_trace_with_their_own_pids(tmp_path, backend):
    """Three forked gevent StreamServer workers on one socket: each one's records, its pid, nested."""
    lines = run_for_fields(tmp_path, PREFORK_SERVER % {"backend": backend}, timeout=90)
    workers = set(map(int, lines["workers"].split()))
    assert lines["statuses"].split() == ["0"] * 3
    served = dict(map(int, item.split(":")) for item in lines["served"].split()[1:])
    assert set(served) == workers, "the kernel gave every connection to the same workers"
    records = read_jsonl(tmp_path / "trace.jsonl")
    print("prefork: %s requests; served per worker %s" % (lines["served"].split()[0], served))
    handled = count_by(records, "pid", event="call", qualnames={"handle"})
    assert handled == served
    for name in ("respond", "compute"):
        assert count_by(records, "pid", event="call", qualnames={name}) == served
    ours = [r for r in records if r["qualname"] in ("handle", "respond", "compute")]
    pairs = check_nesting(ours)
    assert sum(pairs.values()) == 3 * sum(served.values())
    greenlets = {(pid, g) for pid, _, g in pairs}
    assert len(greenlets) == sum(served.values()), "each request runs in its own greenlet"


FORK_LOOP = """
import os, sys, threading, warnings
import infi_tracing
warnings.filterwarnings("ignore", "This process", DeprecationWarning)
infi_tracing.tracing_output_to_file("trace.jsonl", format="jsonl")
infi_tracing.set_tracing(lambda frame: frame.f_code.co_name in ("busy", "child_work"),
                         backend=%(backend)r, overflow="block", buffer_size=65536)
FORKS, AT_ONCE = 200, 10

def busy(i):
    return i

def child_work(i):
    return i + 1

def spin(stop, done):
    n = 0
    while not stop.is_set():
        for i in range(500):
            busy(i)
        n += 500
    done.append(n)

stop, done = threading.Event(), []
t = threading.Thread(target=spin, args=(stop, done))
t.start()
children = []
for batch in range(FORKS // AT_ONCE):
    pids = []
    for _ in range(AT_ONCE):
        pid = os.fork()
        if pid == 0:
            for i in range(3):
                child_work(i)
            infi_tracing.unset_tracing()
            os._exit(0)
        pids.append(pid)
    for pid in pids:
        _, status = os.waitpid(pid, 0)
        assert status == 0, (pid, status)
    children += pids
stop.set()
t.join()
infi_tracing.unset_tracing()
print("busy", done[0])
print("children", *children)
"""


def test_fork_in_a_tight_loop_while_another_thread_traces(tmp_path, backend):
    """200 forks (10 at a time) while a thread traces flat out: no deadlock, every record arrives."""
    lines = run_for_fields(tmp_path, FORK_LOOP % {"backend": backend}, timeout=120)
    children = list(map(int, lines["children"].split()))
    assert len(set(children)) == 200
    busy_calls = int(lines["busy"])
    per_child, busy = {}, 0
    with open(tmp_path / "trace.jsonl") as f:   # large: count without parsing every line
        for line in f:
            if '"child_work"' in line:
                pid = int(line.split('"pid":', 1)[1].split(",", 1)[0])
                per_child[pid] = per_child.get(pid, 0) + 1
            elif '"busy"' in line:
                busy += 1
    assert per_child == {pid: 6 for pid in children}
    assert busy == 2 * busy_calls
    print("forks survived: 200; busy thread records: %d" % busy)
