"""Redaction: values named like secrets never reach a ring, so no sink sees them."""

import json

import pytest

from helpers import decode_binary, run_cli, run_traced, run_traced_program, write
from syslog_daemons import rsyslogd_fixture  # noqa: F401

pytestmark = pytest.mark.native  # make test-asan runs these

SECRET = "hunter2-Zq9x"  # the program builds it at run time: its source is no output

# A program passing the secret every way redaction covers: positional and keyword
# arguments, nested dicts, **kwargs, return and yielded values of functions named
# like get_token.  Nothing else carries it (see the README's Security section).
SECRETS_PROGRAM = """
SECRET = "hunter2-" + "Zq9x"

def login(user, password, *, token=None):
    return True

def connect(dsn, db_password):
    return 1

def call_api(url, headers):
    return 200

def configure(settings):
    return None

def request(method, **kwargs):
    return None

def get_token():
    return SECRET

def load_password(name):
    return SECRET

class Vault:
    def get_secret(self):
        return SECRET

def iter_token():
    yield SECRET

login("bob", SECRET, token=SECRET)
login("bob", password=SECRET)
connect("db://x", SECRET)
call_api("https://x", {"Authorization": SECRET, "Accept": "json", b"cookie": SECRET})
configure({"db": {"host": "h", "password": SECRET}, "api": {"X-Api-Key": SECRET}})
configure([{"accessToken": SECRET}])
request("GET", session=SECRET, apiKey=SECRET, cookie={"sid": SECRET})
get_token()
load_password("x")
Vault().get_secret()
list(iter_token())
"""

# A Python sink reached through a pluggy plugin: writes every record it gets.
DUMP_PLUGIN = """
import json, infi_tracing._plugins
from infi_tracing.hookspecs import hookimpl

class DumpSink:
    def __init__(self, path):
        self.file = open(path, "w")
    def write(self, batch):
        for record in batch:
            self.file.write(json.dumps(record) + "\\n")
    def flush(self):
        self.file.flush()
    def close(self):
        self.file.close()

class DumpPlugin:
    @hookimpl
    def infi_tracing_sink_schemes(self):
        return ["dumpall"]
    @hookimpl
    def infi_tracing_make_sink(self, spec):
        return DumpSink(spec.require_path()) if spec.scheme == "dumpall" else None

infi_tracing._plugins.plugin_manager().register(DumpPlugin())
"""

LEVELS = ["TRACE_FUNC_PRIMITIVES", "TRACE_FUNC_REPR"]
# Sinks that carry no argument or return value (Perfetto protobuf: names and times only).
WITHOUT_VALUES = ("perfetto+proto",)


def _trace_to_every_sink(tmp_path, rsyslogd, level, redact=None):
    """Run SECRETS_PROGRAM traced to every kind of sink at once; {sink: bytes it wrote}."""
    files = {"text": "trace.txt", "jsonl": "trace.jsonl", "binary": "trace.itr",
             "perfetto": "trace.json", "perfetto+proto": "trace.pftrace", "plugin": "trace.dump",
             "flight snapshot": "snapshot.itr", "crash-survival file": "flight.file"}
    urls = ["file://%s" % (tmp_path / files["text"]),
            "file://%s?format=jsonl" % (tmp_path / files["jsonl"]),
            "binary://%s" % (tmp_path / files["binary"]),
            "perfetto://%s" % (tmp_path / files["perfetto"]),
            "perfetto+proto://%s" % (tmp_path / files["perfetto+proto"]),
            "dumpall://%s" % (tmp_path / files["plugin"]),
            "syslog+tcp://127.0.0.1:%d" % rsyslogd.tcp_port]
    snapshot = tmp_path / files["flight snapshot"]
    run_traced_program(tmp_path, SECRETS_PROGRAM + "dump_flight_recorder(%r)\n" % str(snapshot),
                       setup=DUMP_PLUGIN,
                       sinks="infi_tracing.configure_sinks(%r)" % urls,
                       tracing_args="level=%s, overflow='block', flight_recorder=FlightRecorder("
                                    "window=30, size=16 << 20, file=%r, keep_file=True)%s"
                                    % (level, str(tmp_path / files["crash-survival file"]),
                                       "" if redact is None else ", redact=%r" % redact))
    outputs = {kind: (tmp_path / name).read_bytes() for kind, name in files.items()}
    recovered = run_cli(tmp_path, "recover", files["crash-survival file"], "-o", "recovered.itr")
    assert recovered.returncode == 0, recovered.stderr
    files["recovered"] = "recovered.itr"
    outputs["recovered"] = (tmp_path / "recovered.itr").read_bytes()
    for kind in ("binary", "flight snapshot", "recovered"):
        decoded = decode_binary(tmp_path / files[kind], tmp_path)
        outputs[kind + " decoded"] = json.dumps(decoded).encode()
    messages = rsyslogd.messages(expected=len(outputs["jsonl"].splitlines()))
    outputs["syslog"] = "\n".join(m["raw"] for m in messages).encode()
    return outputs


@pytest.mark.parametrize("level", LEVELS)
def test_secret_reaches_no_sink(tmp_path, rsyslogd, level):
    """Not one byte of any sink's output (text, jsonl, binary and decoded, Perfetto
    JSON and protobuf, a Python plugin sink, syslog through rsyslogd, a flight-recorder
    snapshot, its crash-survival file and the trace recovered from it) holds the secret."""
    outputs = _trace_to_every_sink(tmp_path, rsyslogd, level)
    for kind, data in outputs.items():
        assert b"get_token" in data, kind
        if kind not in WITHOUT_VALUES:
            assert b"<redacted>" in data, kind  # the values were there, redacted
        assert SECRET.encode() not in data, kind
        assert SECRET.encode().hex().encode() not in data, kind


@pytest.mark.parametrize("level", LEVELS)
def test_redact_none_leaves_secrets_in_every_sink(tmp_path, rsyslogd, level):
    """redact="none" switches names off: every sink shows the secret (so the
    test above can fail)."""
    outputs = _trace_to_every_sink(tmp_path, rsyslogd, level, redact="none")
    for kind, data in outputs.items():
        assert (SECRET.encode() in data) == (kind not in WITHOUT_VALUES), kind


def _values(traced, qualname):
    """(arguments of the first call, return value) of `qualname`."""
    return traced.first("call", qualname).get("args"), traced.first("return", qualname)["retval"]


NAMES = """
def f(db_password, auth_token, accessToken, apiKey, X_Api_Key, author, tokenize, mysession_x):
    return None

def tokenizer():
    return "kept"

def g(d):
    pass

f(*"abcdefgh")
tokenizer()
g({"DB-Password": 1, "private_key_pem": 2, "passwords": 3, "Authorization": 4})
"""


def test_names_are_matched_as_words(backend, tmp_path):
    """A deny-list word anywhere in a name as a whole word (snake_case, camelCase,
    case ignored) is redacted; the same letters inside a longer word are not."""
    traced = run_traced(tmp_path, NAMES, backend=backend,
                        tracing_args="level=TRACE_FUNC_PRIMITIVES")
    args, _ = _values(traced, "f")
    redacted = {name for name, value in args.items() if value == "'<redacted>'"}
    assert redacted == {"db_password", "auth_token", "accessToken", "apiKey", "X_Api_Key"}
    assert _values(traced, "tokenizer")[1] == "'kept'"
    assert _values(traced, "g")[0] == {"d": "{'DB-Password': '<redacted>', 'private_key_pem': "
                                            "'<redacted>', 'passwords': 3, "
                                            "'Authorization': '<redacted>'}"}


def test_user_words_and_globs_add_to_the_list(tmp_path):
    """redact= adds words (matched like the defaults) and globs (whole name) to the
    default list."""
    body = "def f(user_ssn, card_pin, pin, password): pass\nf(1, 2, 3, 4)\n"
    traced = run_traced(tmp_path, body,
                        tracing_args="level=TRACE_FUNC_PRIMITIVES, redact=['SSN', '*_pin']")
    args, _ = _values(traced, "f")
    assert args == {"user_ssn": "'<redacted>'", "card_pin": "'<redacted>'", "pin": "3",
                    "password": "'<redacted>'"}


def test_value_regex_redacts_a_bearer_token(backend, tmp_path):
    """redact_values: a value matching the regex is redacted whole, wherever it is
    (an innocently named argument, inside a list, a return value)."""
    body = """
def show(header, items):
    return header
show("Bearer abc.DEF-123", ["x", "bearer zz9"])
show("Basic x", [1])
"""
    traced = run_traced(tmp_path, body, backend=backend,
                        tracing_args="level=TRACE_FUNC_PRIMITIVES, "
                                     "redact_values=r'(?i)bearer [A-Za-z0-9._-]+'")
    first, second = traced.events("call")[0], traced.events("call")[1]
    assert first["args"] == {"header": "'<redacted>'", "items": "'<redacted>'"}
    assert traced.events("return")[0]["retval"] == "'<redacted>'"
    assert second["args"] == {"header": "'Basic x'", "items": "[1]"}


def test_redacted_argument_is_never_rendered(tmp_path):
    """At REPR an argument named like a secret is not read: its __repr__ never runs."""
    body = """
class Loud:
    def __repr__(self):
        print("repr ran")
        return "Loud()"
def connect(password):
    pass
connect(Loud())
"""
    proc = run_traced_program(tmp_path, body, tracing_args="level=TRACE_FUNC_REPR")
    assert "repr ran" not in proc.stdout


def test_arguments_beyond_the_63rd_are_covered(tmp_path):
    """A function with more arguments than the bit mask has still redacts a late
    argument named like a secret."""
    names = ", ".join("a%d" % i for i in range(70))
    body = "def f(%s, password): pass\nf(*range(71))\n" % names
    traced = run_traced(tmp_path, body, tracing_args="level=TRACE_FUNC_PRIMITIVES")
    args, _ = _values(traced, "f")
    assert args["password"] == "'<redacted>'" and args["a0"] == "0"


@pytest.mark.parametrize("kwargs, message", [
    ({"redact_values": "("}, "redact_values: bad regex '('"),
    ({"redact_values": [3]}, "redact_values must be regexes"),
    ({"redact": ["none", "ssn"]}, "redact: 'none' switches name redaction off"),
    ({"redact": "__"}, "redact: '__' has no letter or digit"),
    ({"redact": 5}, "redact must be names or globs"),
])
def test_bad_options_are_rejected_naming_them(kwargs, message):
    """A bad redact or redact_values raises ValueError naming the option, before
    anything changes."""
    import infi_tracing
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        infi_tracing.set_tracing(**kwargs)


CLI_PROGRAM = """
def enroll(user_ssn, note):
    return None
enroll("123-45-6789", "card 4111 1111 1111 1111")
"""


ENROLL_REDACTED = {"user_ssn": "'<redacted>'", "note": "'<redacted>'"}


def _enroll_args(path):
    """The arguments of the first call of `enroll` in the JSON-lines trace at `path`."""
    records = map(json.loads, path.read_text().splitlines())
    return next(r["args"] for r in records if r.get("qualname") == "enroll"
                and r["event"] == "call")


def test_run_command_line_redacts(tmp_path):
    """run --redact NAME --redact-value REGEX."""
    script = write(tmp_path / "prog.py", CLI_PROGRAM)
    proc = run_cli(tmp_path, "run", "--level", "primitives", "--no-summary",
                   "--sink", "file://%s?format=jsonl" % (tmp_path / "t.jsonl"),
                   "--redact", "ssn", "--redact-value", "([0-9]{4} ?){4}", script)
    assert proc.returncode == 0, proc.stderr
    assert _enroll_args(tmp_path / "t.jsonl") == ENROLL_REDACTED


def test_environment_redacts(tmp_path):
    """INFI_TRACING_REDACT and INFI_TRACING_REDACT_VALUES (a JSON list) do the same."""
    script = write(tmp_path / "prog.py", CLI_PROGRAM)
    env = {"INFI_TRACING_REDACT": "ssn", "INFI_TRACING_REDACT_VALUES": '["([0-9]{4} ?){4}"]',
           "INFI_TRACING_LEVEL": "primitives",
           "INFI_TRACING_SINKS": "file://%s?format=jsonl" % (tmp_path / "t.jsonl")}
    proc = run_cli(tmp_path, "run", "--no-summary", script, env=env)
    assert proc.returncode == 0, proc.stderr
    assert _enroll_args(tmp_path / "t.jsonl") == ENROLL_REDACTED


@pytest.mark.parametrize("args, env, message", [
    (["--redact-value", "("], {}, "--redact-value: bad regex '('"),
    ([], {"INFI_TRACING_REDACT_VALUES": "[1"}, "INFI_TRACING_REDACT_VALUES: a value starting"),
    ([], {"INFI_TRACING_REDACT": "none ssn"}, "INFI_TRACING_REDACT: 'none' switches"),
])
def test_bad_command_line_or_environment_is_an_error(tmp_path, args, env, message):
    """run exits with a usage error naming the option or variable."""
    script = write(tmp_path / "prog.py", CLI_PROGRAM)
    proc = run_cli(tmp_path, "run", *args, script, env=env)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr


SPAWNING_PROGRAM = """
import multiprocessing

def enroll(user_ssn, note):
    return None

def main():
    enroll("123-45-6789", "card 4111 1111 1111 1111")

if __name__ == "__main__":
    process = multiprocessing.get_context("spawn").Process(target=main)
    process.start()
    process.join(60)
    assert process.exitcode == 0
"""


def test_spawned_children_redact_as_run_was_told(tmp_path):
    """run hands --redact and --redact-value to its spawned children."""
    script = write(tmp_path / "prog.py", SPAWNING_PROGRAM)
    proc = run_cli(tmp_path, "run", "--level", "primitives", "--no-summary", "--overflow",
                   "block", "--sink", "file://%s?format=jsonl" % (tmp_path / "t.jsonl"),
                   "--redact", "ssn", "--redact-value", "([0-9]{4} ?){4}", script)
    assert proc.returncode == 0, proc.stderr
    assert _enroll_args(tmp_path / "t.jsonl") == ENROLL_REDACTED


def test_value_regex_redacts_a_log_message(tmp_path):
    """A TraceLogHandler message matching a value regex is redacted whole."""
    setup = """
import logging
log = logging.getLogger("app")
log.addHandler(infi_tracing.TraceLogHandler())
log.propagate = False
"""
    body = 'log.warning("calling with Bearer abc123")\nlog.warning("plain")\n'
    traced = run_traced(tmp_path, body, setup=setup,
                        tracing_args="redact_values=r'Bearer [a-z0-9]+'")
    assert [r["message"] for r in traced.events("log")] == ["'<redacted>'", "plain"]
