"""Network faults: a syslog server that goes away and comes back."""

import time

import pytest

from helpers import finish, run_traced_program, start_program
from syslog_peers import StreamPeer, parse_5424
from syslog_phases import PHASED, lost_reported, wait_file

pytestmark = pytest.mark.native  # make test-asan runs these


def _is_record(message):
    return (parse_5424(message) or {}).get("msgid") in ("call", "return", "exception")


def _is_work(message):
    return _is_record(message) and "__main__.work " in message


def test_server_restart_mid_stream_accounts_for_every_record(tmp_path):
    """Server gone mid-stream and back on the same port: received + reported lost == produced."""
    n = 2000
    first = StreamPeer("octet")
    port = first.port
    child = start_program(tmp_path, PHASED % {
        "url": "syslog+tcp://127.0.0.1:%d?flush_timeout=20" % port, "n": n})
    second = None
    try:
        wait_file(tmp_path / "A-done")
        received_first = first.wait(2 * n, where=_is_work)
        first.close()                      # the server goes away mid-stream
        (tmp_path / "go-A").touch()
        wait_file(tmp_path / "B-done")    # phase B is produced while it is down
        time.sleep(0.5)                    # refused reconnects, with backoff
        second = StreamPeer("octet", port=port)
        (tmp_path / "go-B").touch()
        returncode, out, err = finish(child, timeout=90)
        stats = eval(out.strip().splitlines()[-1])  # the sink's stats dict, printed by the child
        expected = stats["records"] - len([m for m in received_first if _is_record(m)])
        received_second = second.wait(expected, where=_is_record)
    finally:
        child.kill()
        if second is not None:
            second.close()
    assert returncode == 0, err
    produced = 6 * n
    ours = [m for m in received_first + received_second if _is_work(m)]
    lost = lost_reported(received_second)
    delivered = [m for m in received_first + received_second if _is_record(m)]
    assert len(ours) + lost == produced
    assert stats["lost"] == lost and stats["records"] == len(delivered) and stats["pending"] == 0
    assert stats["reconnects"] == 1 and stats["connects"] == 2


def test_a_stuck_server_never_blocks_the_program_even_in_block_mode(tmp_path):
    """A server that accepts but never reads: the program finishes, drops are counted."""
    import socket
    stuck = socket.socket()
    stuck.bind(("127.0.0.1", 0))
    stuck.listen(1)
    try:
        proc = run_traced_program(tmp_path, """
def work(i):
    return i
for i in range(100000):
    work(i)
""", sinks='infi_tracing.configure_sinks(["syslog+tcp://127.0.0.1:%d'
           '?spool_size=65536&flush_timeout=0.5"])' % stuck.getsockname()[1],
            tracing_args="overflow='block'", end="""
sink = infi_tracing.tracing_stats()["sinks"][0]
print(sink["records"] + sink["lost"] + sink["pending"], sink["lost"])
""")
    finally:
        stuck.close()
    accounted, lost = map(int, proc.stdout.split())
    assert lost > 0 and accounted == 200000
