"""How ``python -m infi_tracing run`` finds the program without tracing the
launcher: runpy and the import system's search for the script or module
stay out of the trace, so the program's ``<module>`` is at depth 0 as under
plain python, and ``run -m nosuch`` says what python says, with no record.
"""

import runpy
import sys

from infi_tracing import _levels

__all__ = ["program_filter", "launch_filter", "module_error"]


def _machinery_codes():
    """Code objects whose calls (and everything below) find and read the
    program; runpy also reads two properties of the module's spec (hidden
    from the program's own imports too: trivial getters)."""
    import pkgutil
    spec = sys.modules["_frozen_importlib"].ModuleSpec
    codes = {pkgutil.get_importer.__code__, runpy._get_code_from_file.__code__,
             spec.cached.fget.__code__, spec.parent.fget.__code__}
    finding = getattr(runpy, "_get_module_details", None)  # -m: find the module's spec
    if finding is not None:
        codes.add(finding.__code__)
    return codes


def _wrapped(user_filter, own):
    """A filter that answers `own(frame)` when not None, else the user's."""
    def run_filter(frame):
        level = own(frame)
        if level is not None:
            return level
        return True if user_filter is None else user_filter(frame)

    run_filter.include = getattr(user_filter, "include", ())
    run_filter.exclude = getattr(user_filter, "exclude", ())
    return run_filter


def program_filter(user_filter):
    """The filter the program runs with: runpy's frames are not traced, its
    search for the script or module (and everything it calls) neither."""
    runpy_globals = vars(runpy)
    machinery = _machinery_codes()

    def own(frame):
        if frame.f_code in machinery:
            return _levels.NO_TRACE_NESTED
        if frame.f_globals is runpy_globals:
            return False
        return None

    return _wrapped(user_filter, own)


def launch_filter(user_filter):
    """The filter while module_error() imports the parent packages of an -m
    module: their code is the program's and traced, the import system's is
    not (set_tracing() again afterwards, so the program's own imports are
    decided afresh with program_filter)."""
    import importlib.util
    machinery = {id(vars(m)) for m in (runpy, importlib.util, sys.modules["_frozen_importlib"],
                                       sys.modules["_frozen_importlib_external"])}
    find_spec = sys.modules["_frozen_importlib"]._find_spec.__code__  # finders, path hooks

    def own(frame):
        if frame.f_code is find_spec:
            return _levels.NO_TRACE_NESTED
        if id(frame.f_globals) in machinery:
            return False
        return None

    return _wrapped(user_filter, own)


def module_error(module):
    """What python -m says when `module` cannot be run (None when it can);
    imports its parent packages, as python -m does.  An exception raised by
    a package's own code propagates."""
    finding = getattr(runpy, "_get_module_details", None)
    error = getattr(runpy, "_Error", None)
    if finding is None or error is None:
        return None  # runpy.run_module reports it
    try:
        finding(module, error)
    except error as exc:
        return "%s: %s" % (sys.executable, exc)
    return None
