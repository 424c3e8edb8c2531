"""A traced program sent to a real syslog daemon, and checks of what arrived
(used by the TCP, UDP, unix socket and TLS tests alike)."""

from helpers import run_traced_program

__all__ = ["FIELDS", "OPTIONS", "traced", "ours", "check_fields"]

FIELDS = """
def naïve_函数(text, *values, **options):
    return len(values)
naïve_函数("first line\\nsecond line ✓", *range(20), flag=True, name="x" * 30)
"""

OPTIONS = "facility=local1&hostname=tracehost&app_name=traced"


def traced(tmp_path, sink, body=FIELDS,
           tracing_args="level=infi_tracing.TRACE_FUNC_PRIMITIVES, overflow='block'", **source):
    """Trace `body` into the one sink of URL `sink`."""
    return run_traced_program(tmp_path, body, sinks="infi_tracing.configure_sinks([%r])" % sink,
                              tracing_args=tracing_args, **source)


def ours(messages, name="naïve_函数"):
    """The call and return messages of the function `name`."""
    return [m for m in messages if name in m["msg"] and m["msgid"] in ("call", "return")]


def check_fields(messages):
    """FIELDS' call and return arrived with every header field and argument intact."""
    call, ret = messages
    assert (call["facility"], call["severity"]) == (17, 6)
    assert call["hostname"] == "tracehost" and call["app-name"] == "traced"
    assert call["procid"].isdigit() and call["msgid"] == "call" and ret["msgid"] == "return"
    assert "> __main__.naïve_函数(text='first line\\nsecond line ✓', " \
           "*values=(0, 1, 2, 3, 4, 5, 6, 7, ... <len=20>), " \
           "**options={'flag': True, 'name': 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'})" in call["msg"]
    assert "< __main__.naïve_函数 -> 20" in ret["msg"]
