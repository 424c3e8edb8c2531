"""Flight-recorder snapshots on fatal signals: the handler asks the drain (a normal thread)
for the snapshot, waits for it, then chains to the handler it replaced, so the process still
dies of its signal (and faulthandler still prints its traceback)."""

import signal

import pytest

from helpers import decode_binary, run_interpreter

CRASHING = """
import ctypes, faulthandler, os, sys
import infi_tracing
if sys.argv[1] == "faulthandler-first":
    faulthandler.enable()
def only_main(frame):
    return frame.f_globals.get("__name__") == "__main__"
infi_tracing.set_tracing(filter=only_main, flight_recorder=%r)
if sys.argv[1] == "faulthandler-after":
    faulthandler.enable()
def work():
    pass
def crash(how):
    if how == "abort":
        os.abort()
    ctypes.string_at(0)  # reads address 0: SIGSEGV
for i in range(10):
    work()
crash(sys.argv[2])
"""


@pytest.mark.parametrize("faulthandler", ["none", "faulthandler-first", "faulthandler-after"])
@pytest.mark.parametrize("how, sig", [("segv", signal.SIGSEGV), ("abort", signal.SIGABRT)])
def test_fatal_signal_writes_a_snapshot_and_still_kills(tmp_path, faulthandler, how, sig):
    """SIGSEGV (ctypes) or SIGABRT: a snapshot ending in the crashing call; death by the signal."""
    spec = "30s,4M,path=%s" % (tmp_path / "crash-{pid}-{seq}.itr")
    (tmp_path / "p.py").write_text(CRASHING % spec)
    proc = run_interpreter(tmp_path, "p.py", faulthandler, how)
    assert proc.returncode == -sig, proc.stderr
    found = list(tmp_path.glob("crash-*-crash-sig%d.itr" % sig))
    assert len(found) == 1, proc.stderr
    assert "snapshot (fatal signal) written to %s" % found[0] in proc.stderr
    if faulthandler != "none":
        assert "Fatal Python error" in proc.stderr  # the chained handler ran too
    records = decode_binary(found[0], tmp_path)
    calls = [r["qualname"] for r in records if r["event"] == "call"]
    assert calls == ["work"] * 10 + ["crash"]
