"""Sink specifications: URLs, dicts, the environment variable and plugins."""

import json
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import infi_tracing
from infi_tracing import _config
from infi_tracing._plugins import known_schemes
from infi_tracing.hookspecs import Sink

from helpers import run_python


@pytest.mark.parametrize("spec, fragment", [
    ("nosuch://x", "unknown scheme 'nosuch'"),
    ("carrier-pigeon", "has no scheme"),
    ("syslog+tcp://:514", "a host is required"),
    ("syslog+tcp://127.0.0.1", "a port is required"),
    ("syslog+tcp://127.0.0.1:99999", "bad port"),
    ("syslog+tcp://127.0.0.1:http", "bad port"),
    ("syslog+udp://127.0.0.1:0", "bad port 0"),
    ("syslog+tcp://127.0.0.1:514?facility=local9", "unknown facility 'local9'"),
    ("syslog+tcp://127.0.0.1:514?facility=24", "facility must be between 0 and 23"),
    ("syslog+tcp://127.0.0.1:514?severity=loud", "unknown severity 'loud'"),
    ("syslog+tcp://127.0.0.1:514?framing=zigzag", "option framing must be one of"),
    ("syslog+tcp://127.0.0.1:514?rfc=822", "option rfc must be one of"),
    ("syslog+tcp://127.0.0.1:514?colour=red", "unknown option colour"),
    ("syslog+tcp://127.0.0.1:514?facility=user&facility=kern", "option facility given twice"),
    ("syslog+tcp://no-such-host.invalid:514", "cannot resolve syslog host"),
    ("syslog+udp://127.0.0.1:514?max_size=10", "max_datagram must be"),
    ("syslog+tcp://127.0.0.1:514?app_name=two%20words", "app_name must be"),
    ("syslog+tcp://127.0.0.1:514?procid=-3", "procid must be a positive int"),
    ("syslog+unix://host/dev/log", "takes a socket path, not a host"),
    ("syslog+unix:///dev/log?socktype=raw", "option socktype must be one of"),
    ("file://", "a path is required"),
    ("file://remote/tmp/x", "must be local"),
    ("file:///tmp/x?format=xml", "option format must be one of"),
    ("carrier-pigeon?format=jsonl", "has no scheme"),
    ("stdout://?detail=everything", "option detail must be one of"),
    ("binary://", "a path is required"),
    ({"type": "file"}, "a path is required"),
    ({"path": "/tmp/x"}, "needs a 'type'"),
    ({"type": "syslog+tcp", "host": "127.0.0.1", "port": "x"}, "bad port"),
    (42, "a sink is a URL string, a dict with a 'type' or an object with write"),
    (object(), "has no write"),
])
def test_bad_specs_are_rejected_naming_the_part(spec, fragment):
    """Each bad sink spec raises ValueError naming what is wrong."""
    with pytest.raises(ValueError, match=fragment):
        infi_tracing.configure_sinks([spec])


def test_missing_file_directory_raises_oserror():
    """A file sink whose directory does not exist fails at configuration time."""
    with pytest.raises(OSError, match="path='/nonexistent-dir/trace.log'"):
        infi_tracing.configure_sinks(["file:///nonexistent-dir/trace.log"])


def test_foreign_binary_file_is_refused(tmp_path):
    """Appending binary records to a file that is not a binary trace is refused."""
    other = tmp_path / "notes.txt"
    other.write_text("hello")
    with pytest.raises(ValueError, match="not an infi_tracing binary trace"):
        infi_tracing.configure_sinks(["binary://%s" % other])


def test_builtin_and_plugin_schemes_are_known():
    """Built-in schemes and the installed example plugin's come from entry points."""
    schemes = known_schemes()
    for scheme in ("stdout", "stderr", "file", "syslog+tcp", "syslog+udp", "syslog+unix",
                   "perfetto", "binary", "callcount"):
        assert scheme in schemes


def test_every_installed_sink_is_a_sink_protocol_object(tmp_path):
    """The sinks the built-in and example plugins make all satisfy hookspecs.Sink."""
    sinks = _config.sinks_from_specs(["stderr", "file://%s/t.log" % tmp_path,
                                      "binary://%s/t.itr" % tmp_path,
                                      "perfetto://%s/t.json" % tmp_path,
                                      "syslog+udp://127.0.0.1:5514",
                                      "callcount://%s/counts.json" % tmp_path])
    try:
        assert [type(sink).__name__ for sink in sinks if not isinstance(sink, Sink)] == []
    finally:
        for sink in sinks:
            sink.close()


def test_environment_variable_formats():
    """INFI_TRACING_SINKS takes a JSON list or URLs separated by spaces or ';'."""
    env = {"INFI_TRACING_SINKS": "stderr; file:///tmp/a.log  stdout"}
    assert _config.specs_from_environment(env) == ["stderr", "file:///tmp/a.log", "stdout"]
    env = {"INFI_TRACING_SINKS": json.dumps(["stderr", {"type": "file", "path": "/tmp/b"}])}
    assert _config.specs_from_environment(env)[1] == {"type": "file", "path": "/tmp/b"}
    assert _config.specs_from_environment({}) is None
    with pytest.raises(ValueError, match="not valid JSON"):
        _config.specs_from_environment({"INFI_TRACING_SINKS": "[oops"})


def test_configure_sinks_without_specs_needs_the_environment(monkeypatch):
    """configure_sinks() with nothing to go on says what it needs."""
    monkeypatch.delenv("INFI_TRACING_SINKS", raising=False)
    with pytest.raises(ValueError, match="INFI_TRACING_SINKS"):
        infi_tracing.configure_sinks()


URL_TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)),
                   max_size=40)
PATH_SCHEMES = ("file", "binary")


@st.composite
def sink_urls(draw, base):
    """A URL of any scheme; those naming a file name one directly in `base` (a file name with
    no '/' or '%', so it cannot climb out), whatever query or fragment follows it."""
    scheme = draw(st.sampled_from(["stdout", "stderr", "syslog+tcp", "syslog+udp",
                                   "syslog+unix", "nosuch", *PATH_SCHEMES]))
    if scheme not in PATH_SCHEMES:
        return "%s://%s" % (scheme, draw(URL_TEXT))
    name = draw(URL_TEXT.filter(lambda text: not set(text) & set("/%")))
    return "%s://%s/t-%s" % (scheme, base, name)


@pytest.fixture(scope="module")
def url_base(tmp_path_factory):
    """The directory the generated file URLs point into (module-scoped for hypothesis)."""
    return tmp_path_factory.mktemp("urls")


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_generated_file_urls_stay_in_their_directory(url_base, data):
    """The URL strategy never points a file sink outside the directory it is given."""
    url = data.draw(sink_urls(url_base))
    try:
        spec = _config.parse_sink_spec(url)
    except ValueError:
        return
    if spec.scheme in PATH_SCHEMES:
        assert os.path.dirname(os.path.normpath(spec.path)) == str(url_base), url


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_any_url_is_accepted_or_rejected_with_value_error(url_base, data):
    """Arbitrary URLs never crash configuration: they parse or raise ValueError."""
    try:
        sinks = _config.sinks_from_specs([data.draw(sink_urls(url_base))])
    except (ValueError, OSError):
        return
    for sink in sinks:
        sink.close()


@settings(max_examples=200, deadline=None)
@given(options=st.dictionaries(
    st.sampled_from(["facility", "severity", "framing", "rfc", "hostname", "app_name",
                     "procid", "msgid", "max_size", "spool_size", "flush_timeout", "detail",
                     "bogus"]),
    st.one_of(URL_TEXT, st.integers(-5, 70000).map(str)), max_size=5))
def test_any_syslog_options_are_accepted_or_rejected_with_value_error(options):
    """Arbitrary syslog options never crash configuration."""
    try:
        _config.sinks_from_specs([dict(type="syslog+udp", host="127.0.0.1", port=5514,
                                       **options)])
    except ValueError:
        pass


def test_several_sinks_each_with_its_own_format_and_detail(tmp_path):
    """One run feeds several sinks, each with its own format and level of detail."""
    proc = run_python(tmp_path, """
import infi_tracing
infi_tracing.configure_sinks(["file:///%s/full.log",
                              "file:///%s/names.jsonl?format=jsonl&detail=name",
                              {"type": "binary", "path": "%s/trace.itr"}])
def f(x):
    return x + 1
infi_tracing.set_tracing(level=infi_tracing.TRACE_FUNC_PRIMITIVES)
f(1)
infi_tracing.unset_tracing()
""" % (tmp_path, tmp_path, tmp_path))
    assert proc.returncode == 0, proc.stderr
    full = (tmp_path / "full.log").read_text()
    names = [json.loads(x) for x in (tmp_path / "names.jsonl").read_text().splitlines()]
    assert "__main__.f(x=1)" in full and "-> 2" in full
    assert [r["event"] for r in names if r["qualname"] == "f"] == ["call", "return"]
    assert not any("args" in r or "retval" in r for r in names)
    assert (tmp_path / "trace.itr").stat().st_size > 8


def test_sinks_from_the_environment_without_code_changes(tmp_path):
    """set_tracing() with INFI_TRACING_SINKS set and no outputs configured uses it."""
    proc = run_python(tmp_path, """
import infi_tracing
def f():
    pass
infi_tracing.set_tracing()
f()
infi_tracing.unset_tracing()
""", env={"INFI_TRACING_SINKS": "file:///%s/env.log?format=jsonl" % tmp_path})
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(x) for x in (tmp_path / "env.log").read_text().splitlines()]
    assert [r["qualname"] for r in lines] == ["f", "f"]


def test_third_party_plugin_receives_records(tmp_path):
    """The separately installed example plugin is configured by its scheme and gets records."""
    proc = run_python(tmp_path, """
import infi_tracing
infi_tracing.configure_sinks(["callcount://%s/counts.json?top=5"])
def f():
    pass
infi_tracing.set_tracing()
for _ in range(7):
    f()
infi_tracing.unset_tracing()
""" % tmp_path)
    assert proc.returncode == 0, proc.stderr
    counts = json.loads((tmp_path / "counts.json").read_text())
    assert counts["calls"]["__main__.f"] == 7 and counts["batches"] >= 1


@pytest.mark.parametrize("url, scheme", [("stdout?format=jsonl", "stdout"),
                                         ("stderr?format=jsonl&detail=name", "stderr")])
def test_stream_word_takes_options_without_a_colon(url, scheme):
    """'stdout?format=jsonl' means 'stdout:?format=jsonl'."""
    (sink,) = _config.sinks_from_specs([url])
    assert (sink.name, sink.format) == (scheme, "jsonl")


MIXED_SINKS = """
import json, infi_tracing

class Collect:
    def __init__(self):
        self.names = []
    def write(self, batch):
        self.names += [r["qualname"] for r in batch if r["event"] == "call"]
    def flush(self):
        pass
    def close(self):
        with open("collected.json", "w") as f:
            json.dump(self.names, f)

def f():
    pass

infi_tracing.%(call)s([Collect(), "file://%(dir)s/url.jsonl?format=jsonl",
                       {"type": "file", "path": "%(dir)s/dict.jsonl", "format": "jsonl"}])
infi_tracing.set_tracing(lambda frame: frame.f_code.co_name == "f")
f()
infi_tracing.unset_tracing()
"""


@pytest.mark.parametrize("call", ["set_sinks", "configure_sinks"])
def test_sink_objects_urls_and_dicts_mix_in_one_list(tmp_path, call):
    """set_sinks() and configure_sinks() both take sink objects, URLs and dicts together."""
    proc = run_python(tmp_path, MIXED_SINKS % {"call": call, "dir": tmp_path})
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "collected.json").read_text()) == ["f"]
    for name in ("url.jsonl", "dict.jsonl"):
        lines = [json.loads(x) for x in (tmp_path / name).read_text().splitlines()]
        assert [(r["event"], r["qualname"]) for r in lines] == [("call", "f"), ("return", "f")]


def test_pid_in_a_sink_path_is_the_opening_process_id(tmp_path):
    """'{pid}' in a file sink's path becomes the id of the process opening it."""
    (sink,) = _config.sinks_from_specs(["file://%s/trace.{pid}.log" % tmp_path])
    assert sink.path == "%s/trace.%d.log" % (tmp_path, os.getpid())
    assert (tmp_path / ("trace.%d.log" % os.getpid())).exists()
