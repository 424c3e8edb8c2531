"""Sink configuration is all-or-nothing: no file is touched or left open for a bad list."""

import os

import pytest

import infi_tracing
from infi_tracing import _config


def _open_fds():
    return len(os.listdir("/proc/self/fd"))


def test_unknown_option_leaves_the_perfetto_file_as_it_was(tmp_path):
    """perfetto:///x.json?colour=red is refused before x.json is truncated."""
    path = tmp_path / "x.json"
    path.write_text("keep me\n")
    with pytest.raises(ValueError, match="unknown option colour"):
        infi_tracing.configure_sinks(["perfetto://%s?colour=red" % path])
    assert path.read_text() == "keep me\n"


def test_unknown_option_leaves_no_descriptor_open(tmp_path):
    """The refused perfetto sink holds no descriptor afterwards."""
    before = _open_fds()
    with pytest.raises(ValueError, match="unknown option colour"):
        infi_tracing.configure_sinks(["perfetto://%s?colour=red" % (tmp_path / "x.json")])
    assert _open_fds() == before


@pytest.mark.parametrize("scheme", ["file", "perfetto", "binary"])
def test_a_later_bad_spec_creates_no_earlier_file(tmp_path, scheme):
    """A valid file sink before a bad spec does not create (or truncate) its file."""
    path = tmp_path / "early.trace"
    with pytest.raises(ValueError, match="unknown scheme"):
        infi_tracing.configure_sinks(["%s://%s" % (scheme, path), "nosuch://x"])
    assert not path.exists()


@pytest.mark.parametrize("scheme", ["file", "perfetto", "binary"])
def test_a_failed_open_closes_the_files_opened_before(tmp_path, scheme):
    """When a later file cannot be opened, the files opened before it are closed again."""
    before = _open_fds()
    with pytest.raises(OSError, match="missing-dir"):
        infi_tracing.configure_sinks(["%s://%s" % (scheme, tmp_path / "early.trace"),
                                      "file://%s" % (tmp_path / "missing-dir" / "x.log")])
    assert _open_fds() == before


def test_a_configured_file_is_open_once_configure_sinks_returns(tmp_path):
    """Lazy opening still opens (and creates) the file before configure_sinks() returns."""
    path = tmp_path / "trace.log"
    sinks = _config.sinks_from_specs(["file://%s" % path])
    assert path.exists()
    assert sinks[0].handle is not None
