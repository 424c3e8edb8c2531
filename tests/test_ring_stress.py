"""The ring buffer under ThreadSanitizer: tests/native/ring_stress.c built
with -fsanitize=thread and run (one producer and one drain thread, block and
drop modes).  Skipped without gcc or a working TSan runtime, except under
CI=true, where the machine is expected to have them."""
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

from helpers import tool_unavailable

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "native" / "ring_stress.c"
NATIVE = HERE.parent / "infi_tracing" / "native"
RECORDS = int(os.environ.get("RING_STRESS_RECORDS", "150000"))


def compile_c(source, out, sanitize="thread"):
    cc = os.environ.get("CC", "gcc")
    if not shutil.which(cc):
        tool_unavailable("no C compiler %r" % cc)
    include = sysconfig.get_paths()["include"]  # it_ring.h includes Python.h (types only)
    cmd = [cc, "-fsanitize=" + sanitize, "-O1", "-g", "-std=gnu11", "-Wall", "-Wextra", "-Werror",
           "-I", str(NATIVE), "-I", include, str(source), "-o", str(out), "-pthread"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def test_ring_under_thread_sanitizer(tmp_path):
    # A trivial program first: a compiler without TSan is a missing tool,
    # while ring_stress.c failing to build (or warning) is our bug.
    probe = tmp_path / "probe.c"
    probe.write_text("int main(void) { return 0; }\n")
    built = compile_c(probe, tmp_path / "probe")
    if built.returncode != 0:
        tool_unavailable("cannot build with -fsanitize=thread:\n" + built.stderr)
    exe = tmp_path / "ring_stress"
    built = compile_c(SOURCE, exe)
    assert built.returncode == 0, built.stderr
    # halt_on_error: the first race fails the run; exitcode is TSan's own
    # status, told apart from a failed check (1) in the message below.
    env = dict(os.environ, TSAN_OPTIONS="halt_on_error=1:exitcode=66:second_deadlock_stack=1")
    proc = subprocess.run([str(exe), str(RECORDS)], capture_output=True, text=True, env=env,
                          timeout=600)
    sys.stdout.write(proc.stdout)
    if "ThreadSanitizer: unexpected memory mapping" in proc.stderr:
        tool_unavailable("TSan cannot run on this kernel's address layout:\n" + proc.stderr[-2000:])
    assert "WARNING: ThreadSanitizer" not in proc.stderr, proc.stderr[-20000:]
    assert proc.returncode == 0, "exit %d\n%s%s" % (proc.returncode, proc.stdout, proc.stderr[-20000:])
    assert "all checks passed" in proc.stdout
    assert "ring_stress block: %d records" % RECORDS in proc.stdout
    assert "ring_stress drop: %d records" % RECORDS in proc.stdout
