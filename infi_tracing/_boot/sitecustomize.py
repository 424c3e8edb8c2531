"""Tracing for the multiprocessing children of ``python -m infi_tracing run``.

run puts this directory first on PYTHONPATH and its settings in the
INFI_TRACING_* variables, so every Python interpreter the program starts
imports this module at start-up, as site does for any sitecustomize.  It
leaves sys.path as it would have been and imports the sitecustomize it hides
(if there is one).  Then, in the interpreters multiprocessing starts for its
spawn and forkserver start methods (and only there: another program's
captured stderr must not fill with trace lines), it starts tracing from the
environment (``infi_tracing.auto``).  An interpreter without infi_tracing
installed runs untraced.
"""

import os
import sys

# How multiprocessing starts a spawned child and the fork server (its -c code);
# the fork server's children are forks of it, traced as forks are.
_MULTIPROCESSING_CODE = ("from multiprocessing.spawn import spawn_main",
                         "from multiprocessing.forkserver import main")


def _hide_this_directory():
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if not p or os.path.abspath(p) != here]


def _import_the_hidden_sitecustomize():
    this = sys.modules.pop(__name__)
    try:
        import sitecustomize  # noqa: F401 - the next one on sys.path, if any
    except ImportError as exc:
        if exc.name != "sitecustomize":
            raise
    finally:
        # site's import of this module ends by taking it from sys.modules
        sys.modules.setdefault(__name__, this)


def _started_by_multiprocessing():
    argv = getattr(sys, "orig_argv", ())
    try:
        code = argv[argv.index("-c") + 1]
    except (ValueError, IndexError):
        return False
    return code.startswith(_MULTIPROCESSING_CODE)


def _start_tracing():
    try:
        import infi_tracing.auto  # noqa: F401
    except ModuleNotFoundError as exc:
        if exc.name != "infi_tracing":
            raise


_hide_this_directory()
_import_the_hidden_sitecustomize()
if _started_by_multiprocessing():
    _start_tracing()
