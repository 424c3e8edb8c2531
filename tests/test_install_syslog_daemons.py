""".ci/install-syslog-daemons without root: make test goes on outside CI, fails under CI=true.

The script runs from a copy of .ci/ in a temporary directory (no rsyslog is extracted
there, and Debian has no system rsyslogd beside syslog-ng: a daemon is missing), with an `id` first on PATH that answers a
non-root uid: nothing is installed, whoever runs the tests.
"""

import os
import shutil
import subprocess

import pytest

from syslog_daemons import REPO

SCRIPT = REPO / ".ci" / "install-syslog-daemons"


@pytest.fixture(name="run_as_non_root")
def run_as_non_root_fixture(tmp_path):
    """A function running the script's copy as uid 1000 with CI set to `ci` (None: unset)."""
    (tmp_path / ".ci").mkdir()
    shutil.copy2(SCRIPT, tmp_path / ".ci")
    fake_bin = tmp_path / "fake-bin"
    fake_bin.mkdir()
    (fake_bin / "id").write_text("#!/bin/sh\necho 1000\n")
    (fake_bin / "id").chmod(0o755)

    def run(ci):
        env = {key: value for key, value in os.environ.items() if key != "CI"}
        env["PATH"] = os.pathsep.join([str(fake_bin), "/usr/bin", "/bin"])
        if ci is not None:
            env["CI"] = ci
        return subprocess.run(["bash", str(tmp_path / ".ci" / "install-syslog-daemons")],
                              capture_output=True, text=True, timeout=60, env=env,
                              stdin=subprocess.DEVNULL)
    return run


def test_without_root_outside_ci_it_names_the_command_and_succeeds(run_as_non_root):
    """Without root and CI, a missing daemon is no failure: the script prints what to run."""
    proc = run_as_non_root(None)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "skipped" in proc.stdout and "sudo " in proc.stdout, proc.stdout


def test_without_root_under_ci_a_missing_daemon_fails(run_as_non_root):
    """Under CI=true a daemon that cannot be installed fails the run, naming the command."""
    proc = run_as_non_root("true")
    assert proc.returncode != 0
    assert "needs root" in proc.stderr and "sudo " in proc.stderr, proc.stderr
