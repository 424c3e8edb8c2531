"""The native core's boundary: its C declarations and the tables it shares with Python."""

import pathlib
import re

import pytest

from infi_tracing import _records
from infi_tracing.native import _core

from helpers import run_traced

pytestmark = pytest.mark.native  # make test-asan runs these

NATIVE = pathlib.Path(__file__).resolve().parent.parent / "infi_tracing" / "native"
INCLUDES = NATIVE / "includes"


def test_event_names_keep_the_record_numbers():
    """_core.EVENT_NAMES names each record kind by the number binary traces store."""
    assert _core.EVENT_NAMES == ("pad", "call", "return", "exception", "resume", "yield",
                                 "lost", "log", "switch", "omitted")


def test_each_header_declaration_file_declares_its_own_header():
    """includes/it_X.pxd declares it_X.h and nothing else."""
    declared = {}
    for pxd in INCLUDES.glob("it_*.pxd"):
        declared[pxd.stem] = set(re.findall(r'cdef extern from "([^"]+)"', pxd.read_text()))
    assert declared, "no it_*.pxd in %s" % INCLUDES
    assert {stem: headers for stem, headers in declared.items()
            if headers != {stem + ".h"}} == {}


def test_native_sources_name_what_they_cimport():
    """No `cimport *` and no ad-hoc `cdef extern` in the .pyx files: names come from includes/."""
    offending = [
        "%s:%d" % (pyx.name, number)
        for pyx in NATIVE.glob("*.pyx")
        for number, line in enumerate(pyx.read_text().splitlines(), 1)
        if re.match(r"\s*(from \S+ cimport \*|cdef extern from)", line)
    ]
    assert offending == []


def test_iterable_coroutine_generator_yields_and_resumes(tmp_path, backend):
    """A types.coroutine generator awaited by a coroutine: call, yield, resume, return."""
    traced = run_traced(tmp_path, """
        import types

        @types.coroutine
        def pause():
            yield
            return 1

        async def main():
            return await pause()

        coro = main()
        try:
            coro.send(None)
            coro.send(None)
        except StopIteration:
            pass
    """, backend=backend)
    assert [r["event"] for r in traced.events() if r["qualname"] == "pause"] == \
        ["call", "yield", "resume", "return"]


def test_python_event_table_matches_the_native_one():
    """The reader's event table (_records, no native import) numbers events as the core does."""
    assert _records.EVENT_NAMES[1:] == _core.EVENT_NAMES[1:]
