"""The public names, the seed's import path and configuration errors."""

import sys

import pytest

import infi_tracing
from infi_tracing.native import _core


def test_seed_import_path_exports_the_same_objects():
    """`from infi.tracing import *` gives the same objects as infi_tracing."""
    namespace = {}
    exec("from infi.tracing import *", namespace)
    for name in infi_tracing.__all__:
        assert namespace[name] is getattr(infi_tracing, name)


def test_seed_names_exist():
    """The seed's documented names are all there, aliases included."""
    for name in ("set_tracing", "unset_tracing", "exclude_from_traces_context",
                 "exclude_from_traces_recursive", "tracing_output_to_stdout",
                 "tracing_output_to_stderr", "tracing_output_to_file", "suspend_tracing",
                 "resume_tracing", "tracing_stats"):
        assert callable(getattr(infi_tracing, name))
    assert infi_tracing.no_tracing_context_recursive is infi_tracing.exclude_from_traces_context
    assert infi_tracing.no_tracing_recursive is infi_tracing.exclude_from_traces_recursive


def test_levels_are_ordered_ints():
    """Levels compare as ints in the documented order."""
    levels = [infi_tracing.NO_TRACE, infi_tracing.NO_TRACE_NESTED, infi_tracing.TRACE_FUNC_NAME,
              infi_tracing.TRACE_FUNC_PRIMITIVES, infi_tracing.TRACE_FUNC_REPR]
    assert levels == sorted(levels) and len(set(levels)) == 5


@pytest.mark.parametrize("kwargs, fragment", [
    ({"backend": "ptrace"}, "backend must be one of"),
    ({"backend": 3}, "backend must be one of"),
    ({"overflow": "wait"}, "overflow must be"),
    ({"buffer_size": 10}, "buffer_size must be between"),
    ({"buffer_size": 1 << 40}, "buffer_size must be between"),
    ({"buffer_size": "8M"}, "buffer_size must be an int"),
    ({"buffer_size": True}, "buffer_size must be an int"),
    ({"level": 9}, "level must be a trace level"),
    ({"level": "name"}, "level must be a trace level"),
    ({"filter": 42}, "filter must be a callable"),
])
def test_bad_set_tracing_arguments_raise_value_error(kwargs, fragment):
    """Each bad set_tracing() argument is rejected by name before anything starts."""
    with pytest.raises(ValueError, match=fragment):
        infi_tracing.set_tracing(**kwargs)
    assert _core.backend_in_use() is None


def test_monitoring_backend_availability_follows_the_version():
    """sys.monitoring is offered from 3.12 on and refused by name before."""
    if sys.version_info >= (3, 12):
        assert _core.available_backends() == ("monitoring", "profile")
    else:
        with pytest.raises(ValueError, match="backend='monitoring' is not available"):
            infi_tracing.set_tracing(backend="monitoring")


def test_unwritable_trace_file_raises_oserror_naming_the_path(tmp_path):
    """A trace file that cannot be opened fails at configuration time."""
    path = tmp_path / "missing-dir" / "trace.log"
    with pytest.raises(OSError, match="path=.*missing-dir"):
        infi_tracing.tracing_output_to_file(path)


def test_bad_format_is_rejected():
    """Only the documented formats are accepted."""
    with pytest.raises(ValueError, match="format must be one of"):
        infi_tracing.tracing_output_to_stderr(format="xml")


def test_bad_sink_object_is_rejected():
    """A sink without write/flush/close is refused."""
    with pytest.raises(ValueError, match="has no write"):
        infi_tracing.set_sinks([object()])
