"""Module-name and file-path globs: filter_from_globs() makes a set_tracing()
filter of them, glob_matcher() the same rule for a trace reader (which sees
a function's module name and file, not its frame)."""

import fnmatch
import os

__all__ = ["filter_from_globs", "glob_matcher"]


def _module_matches(name, pattern):
    return fnmatch.fnmatchcase(name, pattern) or fnmatch.fnmatchcase(name, pattern + ".*")


def _module_names(module_globals):
    """The module's __name__, and for a module run as __main__ (python -m
    pkg.mod) also its real name; the main script that multiprocessing
    re-imports in a spawned child as __mp_main__ is __main__ too."""
    name = module_globals.get("__name__")
    if not isinstance(name, str):
        return ("?",)
    if name not in ("__main__", "__mp_main__"):
        return (name,)
    names = (name,) if name == "__main__" else (name, "__main__")
    real = getattr(module_globals.get("__spec__"), "name", None)
    if isinstance(real, str) and real not in names:
        return names + (real,)
    return names


def _is_path_glob(pattern):
    return os.sep in pattern or "/" in pattern or pattern.endswith(".py")


def glob_matcher(include=(), exclude=()):
    """The rule of the globs: ``matcher(names, path)`` is True when a function of
    the module called by one of `names` defined in file `path` is let through:
    it matches an include (or there are none) and no exclude.  A glob with a
    '/' or ending in '.py' matches the file path (relative globs are made
    absolute, ``~`` is expanded); any other glob matches the module name, a
    package's name covering its submodules (``myapp`` matches ``myapp`` and
    ``myapp.db``).  None when there are no globs."""
    include, exclude = list(include), list(exclude)
    if not include and not exclude:
        return None

    def split(patterns):
        paths, modules = [], []
        for pattern in patterns:
            if _is_path_glob(pattern):
                pattern = os.path.expanduser(pattern)
                if not pattern.startswith(("*", "?", "[")):
                    pattern = os.path.abspath(pattern)
                paths.append(pattern)
            else:
                modules.append(pattern)
        return paths, modules

    include_paths, include_modules = split(include)
    exclude_paths, exclude_modules = split(exclude)

    def matches(names, path, paths, modules):
        return any(_module_matches(name, p) for p in modules for name in names) or \
            any(fnmatch.fnmatchcase(path, p) for p in paths)

    def matcher(names, path):
        if not path.startswith("<"):
            path = os.path.abspath(path)
        if include and not matches(names, path, include_paths, include_modules):
            return False
        return not (exclude and matches(names, path, exclude_paths, exclude_modules))

    return matcher


def filter_from_globs(include=(), exclude=(), base_filter=None):
    """A set_tracing() filter from module-name or file-path globs.

    A code object is traced when glob_matcher(include, exclude) lets it
    through (a module run with ``-m`` matches by its own name as well as
    ``__main__``).  `base_filter(frame)` (optional) is asked for what the
    globs let through.  None when there is nothing to filter.
    """
    include, exclude = list(include), list(exclude)
    if not include and not exclude and base_filter is None:
        return None
    matcher = glob_matcher(include, exclude)

    def glob_filter(frame):
        if matcher is not None and \
                not matcher(_module_names(frame.f_globals), frame.f_code.co_filename):
            return False
        return True if base_filter is None else base_filter(frame)

    glob_filter.include = tuple(include)
    glob_filter.exclude = tuple(exclude)
    return glob_filter
