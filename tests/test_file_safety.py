"""Trace and stats files: private (0600), close-on-exec, and never written
through a symbolic link another user planted at the path (issue #13 item 3)."""

import os
import stat

import pytest

import infi_tracing
from infi_tracing.sinks.files import open_trace_file

from helpers import run_cli, write

FILE_SCHEMES = ("file", "binary", "perfetto", "perfetto+proto")
NOBODY = 65534


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def _plant_link(tmp_path, owner):
    """A link trace.out -> victim, owned by `owner` (root may give it away)."""
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    link = tmp_path / "trace.out"
    os.symlink(victim, link)
    if owner != os.geteuid():
        if os.geteuid() != 0:
            pytest.fail("this test needs root, to make a link owned by another user")
        os.lchown(link, owner, owner)
    return link, victim


@pytest.mark.parametrize("scheme", FILE_SCHEMES)
def test_trace_files_are_created_private(tmp_path, scheme):
    """A file sink creates its file with mode 0600, whatever the umask allows."""
    path = tmp_path / "trace.out"
    old = os.umask(0)
    try:
        infi_tracing.configure_sinks(["%s://%s" % (scheme, path)])
    finally:
        os.umask(old)
        infi_tracing.configure_sinks(["stderr"])
    assert _mode(path) == 0o600


def test_stats_file_is_created_private(tmp_path):
    """The stats file the stats signal appends to is created with mode 0600."""
    stats = tmp_path / "stats.json"
    write(tmp_path / "prog.py", "pass\n")
    proc = run_cli(tmp_path, "run", "--sink", "binary://%s" % (tmp_path / "t.itr"),
                   "--stats-file", str(stats), "--no-summary", "prog.py")
    assert proc.returncode == 0, proc.stderr
    assert _mode(stats) == 0o600


def test_trace_file_descriptor_is_close_on_exec(tmp_path):
    """A trace file's descriptor does not leak into programs the traced one runs."""
    _, fd = open_trace_file(tmp_path / "t.out", os.O_WRONLY)
    try:
        assert not os.get_inheritable(fd)
    finally:
        os.close(fd)


@pytest.mark.parametrize("scheme", FILE_SCHEMES)
def test_link_planted_by_another_user_is_refused(tmp_path, scheme):
    """A symlink owned by another user at a sink's path: a clear error at configuration, the target untouched."""
    link, victim = _plant_link(tmp_path, NOBODY)
    with pytest.raises(OSError) as info:
        infi_tracing.configure_sinks(["%s://%s" % (scheme, link)])
    assert "symbolic link owned by uid %d" % NOBODY in str(info.value)
    assert str(link) in str(info.value) and "follow_symlinks=yes" in str(info.value)
    assert victim.read_text() == "precious\n"


def test_link_planted_by_another_user_is_followed_when_asked(tmp_path):
    """follow_symlinks=yes writes through a link whatever its owner."""
    link, victim = _plant_link(tmp_path, NOBODY)
    infi_tracing.configure_sinks(["file://%s?follow_symlinks=yes" % link])
    infi_tracing.configure_sinks(["stderr"])
    assert victim.exists()


def test_own_link_is_followed(tmp_path):
    """A link this user made is followed (the user chose where the trace goes)."""
    link, victim = _plant_link(tmp_path, os.geteuid())
    write(tmp_path / "prog.py", "def f():\n    pass\nf()\n")
    proc = run_cli(tmp_path, "run", "--sink", "file://%s" % link, "--no-summary", "prog.py")
    assert proc.returncode == 0, proc.stderr
    assert victim.read_text().startswith("precious\n") and "> __main__.f" in victim.read_text()


def test_stats_file_link_of_another_user_is_refused(tmp_path):
    """run --stats-file through another user's symlink fails before the program starts."""
    link, victim = _plant_link(tmp_path, NOBODY)
    write(tmp_path / "prog.py", "print('ran')\n")
    proc = run_cli(tmp_path, "run", "--stats-file", str(link), "--no-summary", "prog.py")
    assert proc.returncode != 0 and "ran" not in proc.stdout
    assert "--stats-file" in proc.stderr and "symbolic link owned by uid" in proc.stderr
    assert victim.read_text() == "precious\n"


def test_dev_stdout_is_still_a_sink_path(tmp_path):
    """/dev/stdout (a root-owned link) stays usable as a file sink's path."""
    write(tmp_path / "prog.py", "def f():\n    pass\nf()\n")
    proc = run_cli(tmp_path, "run", "--sink", "file:///dev/stdout", "--no-summary", "prog.py")
    assert proc.returncode == 0, proc.stderr
    assert "> __main__.f" in proc.stdout


@pytest.mark.parametrize("fmt", ["text", "jsonl", "perfetto", "perfetto-proto"])
def test_decoded_output_is_created_private(tmp_path, fmt):
    """decode -o writes a new file with mode 0600: it holds what the trace held."""
    write(tmp_path / "prog.py", "def f():\n    pass\nf()\n")
    proc = run_cli(tmp_path, "run", "--sink", "binary://%s" % (tmp_path / "t.itr"),
                   "--no-summary", "prog.py")
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "out"
    proc = run_cli(tmp_path, "decode", "-q", "--format", fmt, "-o", str(out), str(tmp_path / "t.itr"))
    assert proc.returncode == 0, proc.stderr
    assert _mode(out) == 0o600
