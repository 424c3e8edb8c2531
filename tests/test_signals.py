"""Runtime control by signals: toggling a running gevent server, stats on demand."""

import json
import signal
import textwrap
import threading

import pytest

import infi_tracing

from helpers import ExampleServer, check_nesting, run_cli, run_interpreter, wait_for

pytestmark = pytest.mark.native  # make test-asan runs these


def handled_users(records):
    return sorted(json.loads(r["args"]["user_id"].replace("'", '"')) for r in records
                  if r["event"] == "call" and r["qualname"] == "handle_user")


def test_toggle_signal_traces_only_requests_while_on(tmp_path):
    """SIGUSR2 switches a paused gevent server's tracing on, and off again: only the
    requests in between are in the trace, each nested in its own greenlet."""
    with ExampleServer(tmp_path, {"INFI_TRACING_START": "no"}) as server:
        server.get("/users/before")
        server.toggle("on")
        server.get("/users/during1")
        server.get("/users/during2")
        server.toggle("off")
        server.get("/users/after")
        server.stop()
    records = server.records()
    assert handled_users(records) == ["during1", "during2"]
    check_nesting([r for r in records if r["event"] in ("call", "return")])
    logs = [r["message"] for r in records if r["event"] == "log"]
    assert logs == ["tracing on (pid %d)" % server.proc.pid,
                    "tracing off (pid %d)" % server.proc.pid]


def test_toggle_signal_can_switch_on_and_off_repeatedly(tmp_path):
    """Three on/off rounds keep the server serving and trace exactly the 'on' requests."""
    with ExampleServer(tmp_path, {}) as server:
        server.get("/users/r0")
        for n in range(1, 4):
            server.toggle("off")
            server.get("/users/off%d" % n)
            server.toggle("on")
            server.get("/users/on%d" % n)
        server.stop()
    assert handled_users(server.records()) == ["on1", "on2", "on3", "r0"]


def test_toggle_signal_arriving_mid_request_takes_effect_in_that_greenlet(tmp_path):
    """SIGUSR2 while a request greenlet spins on the CPU is handled between its bytecodes,
    in that greenlet: tracing stops before the request ends."""
    with ExampleServer(tmp_path, {"INFI_TRACING_LEVEL": "name"}) as server:
        result = {}
        client = threading.Thread(
            target=lambda: result.update(body=server.get("/busy?seconds=2")))
        client.start()
        wait_for(lambda: any(r.get("qualname") == "spin" for r in server.records()),
                 "the busy request")
        server.toggle("off")
        client.join(timeout=30)
        assert int(result["body"]) > 0
        server.stop()
    records = server.records()
    spin_calls = [r for r in records if r.get("qualname") == "spin"]
    off = [r for r in records if r["event"] == "log" and r["message"].startswith("tracing off")]
    assert [r["event"] for r in spin_calls] == ["call"]  # its return came after the toggle
    assert off[0]["greenlet"] == spin_calls[0]["greenlet"]


def test_stats_signal_while_on_writes_a_log_record_and_the_stats_file(tmp_path):
    """SIGUSR1 while tracing: an infi_tracing.stats log record in the trace and a stats line."""
    with ExampleServer(tmp_path, {}) as server:
        server.get("/users/alice")
        snapshot = server.stats()
        server.stop()
    assert snapshot["pid"] == server.proc.pid and snapshot["active"] is True
    assert snapshot["sinks"][0]["sink"] == "file:%s" % server.trace
    logged = [json.loads(r["message"]) for r in server.records()
              if r["event"] == "log" and r["logger"] == "infi_tracing.stats"]
    assert len(logged) == 1 and logged[0]["time"] == snapshot["time"]
    assert logged[0]["records"] == snapshot["records"] > 0


def test_stats_signal_while_off_without_stats_file_goes_to_stderr(tmp_path):
    """SIGUSR1 with tracing off and no stats file: one JSON stats line on stderr."""
    env = {"INFI_TRACING_START": "no", "INFI_TRACING_STATS_FILE": ""}
    with ExampleServer(tmp_path, env) as server:
        server.get("/users/bob")
        server.proc.send_signal(signal.SIGUSR1)
        wait_for(lambda: "infi_tracing: stats {" in server.stderr(), "stats on stderr")
        server.stop()
    line = [x for x in server.stderr().splitlines() if x.startswith("infi_tracing: stats {")]
    snapshot = json.loads(line[0].partition("stats ")[2])
    assert snapshot["active"] is False and snapshot["pid"] == server.proc.pid


def _python(tmp_path, source, timeout=60):
    return run_interpreter(tmp_path, "-c", textwrap.dedent(source), timeout=timeout)


def test_handlers_chain_to_the_previous_handler(tmp_path):
    """A handler installed before install_signal_handlers() still runs, after ours."""
    proc = _python(tmp_path, """
        import os, signal, infi_tracing
        seen = []
        signal.signal(signal.SIGUSR1, lambda signum, frame: seen.append(("app", signum)))
        infi_tracing.install_signal_handlers(toggle=None, stats=signal.SIGUSR1,
                                             stats_file="stats.jsonl")
        os.kill(os.getpid(), signal.SIGUSR1)
        print(seen, len(open("stats.jsonl").read().splitlines()))
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["[('app',", "%d)]" % signal.SIGUSR1, "1"]


def test_signal_inside_the_filter_is_deferred_until_it_returns(tmp_path):
    """A toggle arriving while the trace filter runs waits until the filter has returned
    (tracing is still on at its end), then switches tracing off."""
    proc = _python(tmp_path, """
        import os, signal, threading, time, infi_tracing
        from infi_tracing.native import _core
        infi_tracing.tracing_output_to_file("trace.jsonl", format="jsonl")
        infi_tracing.install_signal_handlers(toggle=signal.SIGUSR2, stats=None)
        def slow_filter(frame):
            if frame.f_code.co_name == "decided_slowly":
                main = threading.main_thread().ident
                threading.Thread(target=signal.pthread_kill, args=(main, signal.SIGUSR2)).start()
                time.sleep(0.3)  # the signal interrupts this sleep: its handler runs here
                print("filter done", _core.backend_in_use() is not None, flush=True)
            return frame.f_globals.get("__name__") == "__main__"
        def decided_slowly():
            return 1
        infi_tracing.set_tracing(slow_filter)
        decided_slowly()
        deadline = time.monotonic() + 10
        while _core.backend_in_use() is not None and time.monotonic() < deadline:
            time.sleep(0.01)
        print("tracing", _core.backend_in_use() is not None)
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["filter done True", "tracing False"]
    assert "infi_tracing: tracing off (signal %d" % signal.SIGUSR2 in proc.stderr
    records = [json.loads(x) for x in (tmp_path / "trace.jsonl").read_text().splitlines()]
    assert [r["qualname"] for r in records if r["event"] == "call"] == ["decided_slowly"]


def test_stats_command_prints_the_latest_snapshot_per_process(tmp_path):
    """`python -m infi_tracing stats FILE` prints each process's last snapshot as text."""
    stats_file = tmp_path / "stats.jsonl"
    proc = _python(tmp_path, """
        import infi_tracing
        infi_tracing.tracing_output_to_file("trace.log")
        infi_tracing.set_tracing(lambda frame: frame.f_code.co_name == "f")
        def f():
            pass
        f()
        infi_tracing.record_stats(%r)
        for _ in range(9):
            f()
        infi_tracing.flush_tracing()
        infi_tracing.record_stats(%r)
    """ % (str(stats_file), str(stats_file)))
    assert proc.returncode == 0, proc.stderr
    assert len(stats_file.read_text().splitlines()) == 2
    out = run_cli(tmp_path, "stats", stats_file)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len([x for x in lines if x.startswith("pid ")]) == 1
    assert ": tracing on, backend " in lines[0]
    # 20 call/return records of f and the first snapshot's log record
    assert lines[1] == "  records 21, lost 0"
    assert "  sink file:trace.log: 21 records, " in out.stdout


def test_stats_command_reads_snapshots_from_a_binary_trace(tmp_path):
    """Stats log records in a binary trace are found and printed by the stats command."""
    proc = _python(tmp_path, """
        import infi_tracing
        infi_tracing.configure_sinks(["binary://%s/trace.itr"])
        infi_tracing.set_tracing()
        infi_tracing.record_stats()
        infi_tracing.unset_tracing()
    """ % tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = run_cli(tmp_path, "stats", "--json", tmp_path / "trace.itr")
    assert out.returncode == 0, out.stderr
    snapshot = json.loads(out.stdout)
    assert snapshot["active"] is True and snapshot["sinks"][0]["sink"].endswith("trace.itr")


def test_same_signal_for_both_is_refused():
    """toggle and stats must be different signals."""
    with pytest.raises(ValueError, match="different signals"):
        infi_tracing.install_signal_handlers(toggle=signal.SIGUSR1, stats=signal.SIGUSR1)
