"""multiprocessing children that leave through os._exit() finish tracing first.

A child that multiprocessing starts by forking (the fork start method, and
every worker a forkserver forks) runs its target in Process._bootstrap, then
multiprocessing.util._exit_function(), then os._exit(): atexit never runs, so
the records still in the rings (the target's last returns) would be lost.
multiprocessing's own hooks give the place to finish: an after-fork function
(run in the child by _bootstrap, after it clears the finalizers the parent
had) registers a finalizer that _exit_function() runs after every other one,
just before os._exit().  It does what interpreter exit does (stop recording,
deliver everything, close the sinks): what the child does after it is not
recorded, rather than recorded and then silently lost.
"""

import os
import sys

__all__ = ["install"]

# Finalizers run from the highest exitpriority down: this one runs last.
_LAST = -sys.maxsize


class _AfterFork:
    """The object multiprocessing's after-fork registry holds (weakly: a module
    global keeps it alive) together with the function to call."""

    def __init__(self, finish):
        self.finish = finish
        self.registered = False


def _in_multiprocessing_child(hook):
    """In a child multiprocessing started by forking, before its target runs."""
    util = sys.modules["multiprocessing.util"]
    util.Finalize(None, hook.finish, exitpriority=_LAST)


def _before_fork(hook):
    """Before every os.fork(): the first one after multiprocessing is imported
    registers the after-fork function (the registry is inherited by every
    child and grandchild)."""
    util = sys.modules.get("multiprocessing.util")
    if util is not None and not hook.registered:
        util.register_after_fork(hook, _in_multiprocessing_child)
        hook.registered = True


_hook = None


def install(finish):
    """Call `finish()` at the end of every multiprocessing child that leaves
    through os._exit() (once per process; later calls do nothing)."""
    global _hook
    if _hook is None:
        _hook = _AfterFork(finish)
        os.register_at_fork(before=lambda: _before_fork(_hook))
