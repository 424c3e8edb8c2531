"""Type stub of the analysis extension module (infi_tracing.analysis._reader).

Checked against the built module by `make lint-stub` (mypy's stubtest;
tests/native/stubtest-allowlist.txt lists what Cython adds on its own).
"""
import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any

_Paths = str | bytes | os.PathLike[str] | Iterable[str | bytes | os.PathLike[str]]

class NativeReader:
    @property
    def paths(self) -> list[str]: ...
    def __init__(self, paths: _Paths, start: str | float | None = None,
                 end: str | float | None = None, pids: Iterable[int] = (),
                 tids: Iterable[int] = (), greenlets: Iterable[int] = (),
                 includes: Iterable[str] = (), excludes: Iterable[str] = (),
                 depth: int | None = None) -> None: ...
    def records(self) -> Iterator[dict[str, Any]]: ...
    def count(self) -> int: ...
    def function(self, func: int) -> tuple[str, str, str, int]: ...
    @property
    def errors(self) -> list[tuple[str, int, str]]: ...
    @property
    def records_read(self) -> int: ...
    @property
    def current(self) -> int: ...

FORMATS: dict[str, int]

def write_lines(reader: NativeReader, fd: int, format: str = "text",
                min_duration_ns: int = -1,
                progress: Callable[[int, int], object] | None = None) -> tuple[int, int]: ...

def write_perfetto_proto(reader: NativeReader, fd: int, path: str) -> int: ...
