"""A traced program in three phases for syslog outage tests: phase A is
delivered, the server goes away during phase B, phase C runs after it is back.

The program signals "<phase>-done" files and waits for "go-<phase>" files;
the signalling itself is excluded from the trace, so the server is only
stopped while nothing is in flight.
"""

import re

from helpers import wait_for

__all__ = ["PHASED", "wait_file", "lost_reported"]

PHASED = """
import os, time, infi_tracing
infi_tracing.configure_sinks(["syslog+tcp://127.0.0.1:%(port)d?flush_timeout=20"])
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
