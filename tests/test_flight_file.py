"""The crash-survival file (--flight-recorder-file): created 0600 under {pid}, sized up front
with a clear error, removed at a clean exit unless kept, one per process across fork, and
switched on from code, the command line and the environment."""

import os
import stat

from helpers import decode_binary, run_cli, run_interpreter

PROGRAM = """
import os, sys
import infi_tracing
def only_main(frame):
    return frame.f_globals.get("__name__") == "__main__"
infi_tracing.set_tracing(filter=only_main, buffer_size=1 << 20,
                         flight_recorder=infi_tracing.FlightRecorder(size=4 << 20, file=%r,
                                                                      keep_file=%r))
def work():
    pass
work()
print(oct(os.stat(%r.replace("{pid}", str(os.getpid()))).st_mode & 0o777))
"""

FORKING = """
import os
import infi_tracing
def only_main(frame):
    return frame.f_globals.get("__name__") == "__main__"
infi_tracing.set_tracing(filter=only_main, buffer_size=1 << 20,
                         flight_recorder=infi_tracing.FlightRecorder(size=4 << 20, file=%r))
def before_fork():
    pass
def in_child():
    pass
def in_parent():
    pass
before_fork()
pid = os.fork()
if pid == 0:
    for _ in range(50):
        in_child()
    os._exit(0)
os.waitpid(pid, 0)
for _ in range(30):
    in_parent()
print(pid)
os._exit(0)
"""


def template(tmp_path):
    return str(tmp_path / "app-{pid}.flight")


def files(tmp_path):
    return sorted(tmp_path.glob("app-*.flight"))


def test_the_file_is_private_and_removed_at_a_clean_exit(tmp_path):
    """Mode 0600 while the process runs; gone after a normal exit."""
    (tmp_path / "p.py").write_text(PROGRAM % (template(tmp_path), False, template(tmp_path)))
    proc = run_interpreter(tmp_path, "p.py")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "0o600"
    assert files(tmp_path) == []


def test_the_recorder_stats_name_the_file(tmp_path):
    """flight_recorder_stats() gives the file's path, size and what did not fit in it."""
    (tmp_path / "p.py").write_text(
        "import os, infi_tracing\n"
        "infi_tracing.set_tracing(buffer_size=1 << 20, flight_recorder=infi_tracing.FlightRecorder(\n"
        "    size=4 << 20, file=%r))\n"
        "stats = infi_tracing.flight_recorder_stats()['file']\n"
        "print(stats['path'] == %r.replace('{pid}', str(os.getpid())),\n"
        "      os.path.getsize(stats['path']) == stats['bytes'], stats['rings_outside'])\n"
        % (template(tmp_path), template(tmp_path)))
    proc = run_interpreter(tmp_path, "p.py")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["True", "True", "0"]


def test_keep_file_leaves_it_at_a_clean_exit(tmp_path):
    """keep_file=True: the file stays after a normal exit, and recover reads it."""
    (tmp_path / "p.py").write_text(PROGRAM % (template(tmp_path), True, template(tmp_path)))
    assert run_interpreter(tmp_path, "p.py").returncode == 0
    [path] = files(tmp_path)
    assert run_cli(tmp_path, "recover", path, "-o", tmp_path / "out.itr").returncode == 0
    names = [r.get("qualname") for r in decode_binary(tmp_path / "out.itr", tmp_path)]
    assert "work" in names


def test_a_forked_child_gets_its_own_file(tmp_path):
    """After fork the child writes its own {pid} file; the parent's holds only its own calls."""
    (tmp_path / "p.py").write_text(FORKING % template(tmp_path))
    proc = run_interpreter(tmp_path, "p.py")
    assert proc.returncode == 0, proc.stderr
    child = int(proc.stdout)
    assert len(files(tmp_path)) == 2
    calls = {}
    for path in files(tmp_path):
        assert run_cli(tmp_path, "recover", path, "-o", tmp_path / "out.itr").returncode == 0
        records = decode_binary(tmp_path / "out.itr", tmp_path)
        calls[path.name] = [r["qualname"] for r in records if r["event"] == "call"]
    mine = calls.pop("app-%d.flight" % child)
    [theirs] = calls.values()
    assert mine.count("in_child") == 50 and "in_parent" not in mine
    assert theirs.count("in_parent") == 30 and "in_child" not in theirs
    assert theirs.count("before_fork") == 1


def test_a_file_that_cannot_be_sized_is_a_clear_error(tmp_path):
    """No room for the file (a file size limit here): OSError naming the path, nothing left."""
    source = ("import resource, signal\n"
              "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
              "resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))\n"
              "import infi_tracing\n"
              "try:\n"
              "    infi_tracing.set_tracing(flight_recorder=infi_tracing.FlightRecorder(\n"
              "        file=%r))\n"
              "except OSError as exc:\n"
              "    print('error:', exc)\n") % template(tmp_path)
    (tmp_path / "p.py").write_text(source)
    proc = run_interpreter(tmp_path, "p.py")
    assert "infi_tracing: cannot size the flight-recorder file" in proc.stdout, \
        proc.stdout + proc.stderr
    assert "File too large" in proc.stdout
    assert str(tmp_path) in proc.stdout
    assert files(tmp_path) == []


def test_the_cli_option_keeps_the_rings_in_the_file(tmp_path):
    """run --flight-recorder-file: the program's file exists 0600 while it runs."""
    (tmp_path / "p.py").write_text(
        "import glob, os\n"
        "def work():\n    pass\nwork()\n"
        "[path] = glob.glob('app-*.flight')\n"
        "print(path == 'app-%d.flight' % os.getpid(), oct(os.stat(path).st_mode & 0o777))\n")
    proc = run_cli(tmp_path, "run", "--flight-recorder-file", template(tmp_path),
                   "--keep-flight-recorder-file", "p.py")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["True", "0o600"]
    [path] = files(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_environment_switches_it_on(tmp_path):
    """INFI_TRACING_FLIGHT_RECORDER_FILE alone: a recorder with the defaults, in that file."""
    (tmp_path / "p.py").write_text(
        "import os, infi_tracing.auto\n"
        "from infi_tracing import _flight\n"
        "print(_flight.in_use().file)\n"
        "os._exit(0)\n")
    proc = run_interpreter(tmp_path, "p.py", env={
        "INFI_TRACING_FLIGHT_RECORDER_FILE": template(tmp_path)})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == template(tmp_path)
    assert len(files(tmp_path)) == 1


def test_another_file_in_the_same_process_is_refused(tmp_path):
    """The file holds the rings for the process's life: a second path is a clear ValueError."""
    (tmp_path / "p.py").write_text(
        "import infi_tracing\n"
        "infi_tracing.set_tracing(flight_recorder=infi_tracing.FlightRecorder(file=%r))\n"
        "try:\n"
        "    infi_tracing.set_tracing(flight_recorder=infi_tracing.FlightRecorder(file=%r))\n"
        "except ValueError as exc:\n"
        "    print(exc)\n" % (template(tmp_path), str(tmp_path / "other")))
    proc = run_interpreter(tmp_path, "p.py")
    assert "flight_recorder: file is" in proc.stdout, proc.stdout + proc.stderr
    assert not os.path.exists(tmp_path / "other")
