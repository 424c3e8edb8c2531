"""Transparency: a real third-party project's own test suite (more-itertools) passes
the same with tracing on, and its trace is well-formed and nested."""

import json
import os
import subprocess
import sys
import tarfile
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from helpers import check_nesting, read_jsonl

PROJECT, VERSION = "more-itertools", "10.5.0"
CACHE = Path(__file__).resolve().parents[1] / ".venv" / "reliability-cache"
SDIST = CACHE / ("%s-%s.tar.gz" % (PROJECT, VERSION))
DOWNLOAD = [sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps",
            "--retries", "1", "--timeout", "20", "%s==%s" % (PROJECT, VERSION), "-d", str(CACHE)]
OWN_MODULES = ("more_itertools", "tests")

RUNNER = """
import json, sys
import infi_tracing, pytest

def own_code(frame):
    # the project's modules; generator code (a few million re-entries in this suite)
    # is left out to keep the trace file near 100 MB
    return (frame.f_globals.get("__name__") or "").startswith(%(own)r) \\
        and not frame.f_code.co_flags & 0x2A0

infi_tracing.configure_sinks([{"type": "file", "path": sys.argv[1], "format": "jsonl"}])
infi_tracing.set_tracing(own_code, backend=sys.argv[2], overflow="block",
                         level=infi_tracing.TRACE_FUNC_PRIMITIVES)
code = pytest.main(sys.argv[3:])
infi_tracing.unset_tracing()
stats = infi_tracing.tracing_stats()
print("TRACING", json.dumps({"records": stats["records"], "lost": stats["lost"]}))
sys.exit(code)
"""


@pytest.fixture(scope="session")
def project_dir(tmp_path_factory):
    """The unpacked sdist (downloaded once into .venv/reliability-cache)."""
    if not SDIST.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(DOWNLOAD, capture_output=True, text=True, timeout=300)
        if proc.returncode != 0 or not SDIST.exists():
            message = ("cannot download %s %s (network?); pre-fetch it with:\n  %s\n%s"
                       % (PROJECT, VERSION, " ".join(DOWNLOAD), proc.stderr[-2000:]))
            if os.environ.get("CI") == "true":
                pytest.fail(message)
            pytest.skip(message)
    dest = tmp_path_factory.mktemp("sdist")
    with tarfile.open(SDIST) as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(dest, filter="data")
        else:  # pragma: no cover - Pythons without extraction filters
            tar.extractall(dest)  # our own pinned download
    return dest / ("%s-%s" % (PROJECT, VERSION))


def _outcomes(junit_xml):
    """{test id: outcome} from a JUnit XML report."""
    outcomes = {}
    for case in ET.parse(junit_xml).getroot().iter("testcase"):
        name = "%s::%s" % (case.get("classname"), case.get("name"))
        kinds = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
        outcomes[name] = kinds[0] if kinds else "passed"
    return outcomes


def _pytest_args(junit_xml):
    return ["-q", "-p", "no:cacheprovider", "-p", "no:randomly", "--junitxml", str(junit_xml),
            "tests"]


def _environment():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "INFI_TRACING"))}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


@pytest.fixture(scope="session")
def plain_outcomes(project_dir, tmp_path_factory):
    """The project's test outcomes without tracing."""
    junit = tmp_path_factory.mktemp("plain") / "junit.xml"
    proc = subprocess.run([sys.executable, "-m", "pytest"] + _pytest_args(junit),
                          cwd=project_dir, capture_output=True, text=True, timeout=120,
                          env=_environment())
    assert junit.exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.returncode, _outcomes(junit)


def test_third_party_suite_passes_the_same_under_tracing(project_dir, plain_outcomes,
                                                         tmp_path, backend):
    """more-itertools' suite, traced at TRACE_FUNC_PRIMITIVES: every test has the same outcome,
    no record is lost, every line parses and the project's calls nest per greenlet."""
    trace, junit = tmp_path / "trace.jsonl", tmp_path / "junit.xml"
    runner = tmp_path / "traced_runner.py"
    runner.write_text(RUNNER % {"own": OWN_MODULES})
    proc = subprocess.run([sys.executable, str(runner), str(trace), backend]
                          + _pytest_args(junit), cwd=project_dir, capture_output=True,
                          text=True, timeout=150, env=_environment())
    plain_code, plain = plain_outcomes
    traced = _outcomes(junit)
    assert proc.returncode == plain_code, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert traced == plain
    passed = sum(1 for v in traced.values() if v == "passed")
    assert passed > 600
    summary = next(line for line in proc.stdout.splitlines() if line.startswith("TRACING"))
    stats = json.loads(summary.split(" ", 1)[1])
    records = read_jsonl(trace)
    print("%d tests (%d passed) the same; %d records, %d lost"
          % (len(traced), passed, len(records), stats["lost"]))
    assert stats["lost"] == 0 and stats["records"] == len(records) > 100_000
    assert {r["module"].split(".")[0] for r in records} <= set(OWN_MODULES)
    check_nesting(records)
