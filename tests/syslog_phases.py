"""A traced program in three phases for syslog outage tests: phase A is
delivered, the server goes away during phase B, phase C runs after it is back.

The program signals "<phase>-done" files and waits for "go-<phase>" files;
the signalling itself is excluded from the trace, so the server is only
stopped while nothing is in flight.
"""

import re
import time

from helpers import finish, start_program, wait_for

__all__ = ["PHASED", "wait_file", "lost_reported", "restart_mid_stream"]

PHASED = """
import os, time, infi_tracing
infi_tracing.configure_sinks(["%(url)s"])
def work(i):
    return i
@infi_tracing.exclude_from_traces_recursive
def signal(name):  # nothing is traced while the test reacts to the signal
    open(name, "w").close()
@infi_tracing.exclude_from_traces_recursive
def wait_for(name):
    deadline = time.monotonic() + 60
    while not os.path.exists(name) and time.monotonic() < deadline:
        time.sleep(0.01)
infi_tracing.set_tracing(overflow="block")
for phase in "ABC":
    for i in range(%(n)d):
        work(i)
    if phase == "A":  # B: the server is down, a flush would wait flush_timeout for it
        infi_tracing.flush_tracing()
    signal(phase + "-done")
    if phase != "C":
        wait_for("go-" + phase)
infi_tracing.unset_tracing()
print(infi_tracing.tracing_stats()["sinks"][0])
"""


def wait_file(path, timeout=60):
    """Wait for the program to make the file `path`; fail after `timeout` s."""
    wait_for(path.exists, "%s to appear" % path, timeout)


def lost_reported(messages):
    total = 0
    for m in messages:
        found = re.search(r"lost (\d+) records \(syslog sink", m)
        if found:
            total += int(found.group(1))
    return total


def restart_mid_stream(tmp_path, daemon, url, n=3000):
    """PHASED to a real daemon at `url` (flush_timeout=20 is added), which is
    SIGKILLed after phase A and started again after phase B.  Returns
    (records produced, work records received, lost reported in the stream,
    the sink's stats)."""
    url += ("&" if "?" in url else "?") + "flush_timeout=20"
    child = start_program(tmp_path, PHASED % {"url": url, "n": n})
    try:
        wait_file(tmp_path / "A-done")
        daemon.messages(2 * n)
        daemon.kill()                        # the daemon dies
        (tmp_path / "go-A").touch()
        wait_file(tmp_path / "B-done")      # more records while it is down
        time.sleep(0.5)
        daemon.start()                       # back on the same port
        (tmp_path / "go-B").touch()
        returncode, out, err = finish(child, timeout=120)
    finally:
        child.kill()
    assert returncode == 0, err
    stats = eval(out.strip().splitlines()[-1])
    messages = daemon.messages(6 * n - stats["lost"], timeout=30)
    work = [m for m in messages
            if "__main__.work " in m["msg"] and m["msgid"] in ("call", "return")]
    reported = lost_reported(m["msg"] for m in messages if m["msgid"] == "lost")
    print("%s killed mid-stream: %d produced, %d received, %d reported lost"
          % (daemon.name, 6 * n, len(work), reported))
    return 6 * n, len(work), reported, stats
