"""TraceLogHandler: log records in the trace stream, where they were logged."""


import pytest

from helpers import check_nesting, decode_binary, run_interpreter, run_traced

pytestmark = pytest.mark.native  # make test-asan runs these

SETUP = """
import logging
log = logging.getLogger("app.db")
log.setLevel(logging.DEBUG)
log.addHandler(infi_tracing.TraceLogHandler())
log.propagate = False
"""


def test_log_records_sit_inside_the_function_that_logged(tmp_path, backend):
    """A log record carries level, logger and message at its caller's depth and greenlet."""
    traced = run_traced(tmp_path, """
        def query(sql):
            log.warning("slow query: %s", sql)
            return 1
        def handler():
            return query("SELECT 1\\nFROM t")
        handler()
    """, backend=backend, setup=SETUP)
    main = [r for r in traced.records if r.get("module") == "__main__" or r["event"] == "log"]
    assert [r["event"] for r in main] == ["call", "call", "log", "return", "return"]
    log = main[2]
    assert (log["level"], log["logger"]) == ("WARNING", "app.db")
    assert log["message"] == "slow query: SELECT 1\\nFROM t"
    # inside query(), below the logging module's own frames (which are traced too)
    assert log["depth"] > main[1]["depth"] and log["greenlet"] == main[1]["greenlet"]
    check_nesting([r for r in main if r["event"] != "log"])


def test_log_records_in_greenlets_carry_their_greenlet(tmp_path, backend):
    """Logging from two gevent greenlets: each log record names its own greenlet."""
    traced = run_traced(tmp_path, """
        import gevent
        def job(name):
            gevent.sleep(0)
            log.info("job %s", name)
        gevent.joinall([gevent.spawn(job, n) for n in ("a", "b")])
    """, backend=backend, setup=SETUP)
    calls = {r["greenlet"]: r for r in traced.events("call") if r["qualname"] == "job"}
    logs = [r for r in traced.records if r["event"] == "log"]
    assert sorted(r["message"] for r in logs) == ["job a", "job b"]
    assert {r["greenlet"] for r in logs} == set(calls)


def test_no_log_records_when_excluded_or_not_tracing(tmp_path, backend):
    """Inside an exclusion, or with tracing off, the handler records nothing."""
    traced = run_traced(tmp_path, """
        with exclude_from_traces_context():
            log.error("hidden")
        infi_tracing.unset_tracing()
        log.error("after")
        infi_tracing.set_tracing(backend=%r)
        log.error("shown")
    """ % backend, backend=backend, setup=SETUP)
    assert [r["message"] for r in traced.records if r["event"] == "log"] == ["shown"]


def test_log_records_in_text_and_binary_output(tmp_path, backend):
    """Text sinks show '# LEVEL logger: message'; the binary file decodes it back."""
    proc = run_interpreter(tmp_path, "-c", """
import infi_tracing, logging
infi_tracing.configure_sinks(["file://%(d)s/t.txt", "binary://%(d)s/t.itr"])
log = logging.getLogger("svc")
log.addHandler(infi_tracing.TraceLogHandler())
infi_tracing.set_tracing(backend=%(b)r)
log.warning("héllo")
infi_tracing.unset_tracing()
""" % {"d": tmp_path, "b": backend})
    assert proc.returncode == 0, proc.stderr
    text = (tmp_path / "t.txt").read_text()
    assert "# WARNING svc: héllo" in text
    logs = [r for r in decode_binary(tmp_path / "t.itr", tmp_path) if r["event"] == "log"]
    assert [(r["level"], r["logger"], r["message"]) for r in logs] == [("WARNING", "svc", "héllo")]
