"""run's settings handed to the program's multiprocessing children.

A child started as a fresh interpreter (multiprocessing's spawn and
forkserver start methods) inherits nothing from the traced parent but its
environment.  run writes its command-line settings into the INFI_TRACING_*
variables (the ones ``infi_tracing.auto`` reads) and puts ``_boot/`` first
on PYTHONPATH, whose sitecustomize starts tracing in such a child (not in
other Python processes the program starts: see _boot/sitecustomize.py).
Each child writes its own records: text, JSON-lines and binary files are
appended to (whole batches per write, as forked children do); a Perfetto
file, being one process's JSON array, gets a file of its own per child
(``trace.json`` -> ``trace.{pid}.json``), and so does a Perfetto protobuf
file, whose sequence ids and file start are one process's.
"""

import json
import os

from infi_tracing import _config, _env, _flight_file, _retention

__all__ = ["BOOT_DIRECTORY", "child_environment", "export_to_children"]

BOOT_DIRECTORY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_boot")


def _own_perfetto_file(item):
    """`item` (a sink URL or dict) with a per-process path when it is a Perfetto sink
    (JSON or protobuf)."""
    spec = _config.parse_sink_spec(item)
    if spec.scheme not in ("perfetto", "perfetto+proto") or _config.PID_FIELD in spec.path:
        return item
    if isinstance(item, dict):
        root, ext = os.path.splitext(spec.path)
        return dict(item, path="%s.%s%s" % (root, _config.PID_FIELD, ext))
    url, question, query = item.strip().partition("?")
    root, ext = os.path.splitext(url)
    return "%s.%s%s%s%s" % (root, _config.PID_FIELD, ext, question, query)


def child_environment(args, environ=None):
    """The variables to set for run's children: its command-line options
    (already checked) over the inherited INFI_TRACING_* ones, and PYTHONPATH."""
    environ = os.environ if environ is None else environ
    flight = args.flight_recorder or environ.get(_env.FLIGHT_RECORDER_VARIABLE, "").strip()
    recorder_file = args.flight_recorder_file or environ.get(_flight_file.FILE_VARIABLE, "").strip()
    specs = args.sink or _config.specs_from_environment(environ) or (
        [] if flight or recorder_file else ["stderr"])
    update = {}
    if specs:  # none: the flight recorder alone
        update[_config.ENVIRONMENT_VARIABLE] = json.dumps([_own_perfetto_file(s) for s in specs])
    for value, name in ((args.level, _env.LEVEL_VARIABLE),
                        (args.backend, _env.BACKEND_VARIABLE),
                        (args.overflow, _env.OVERFLOW_VARIABLE),
                        (args.buffer_size, _env.BUFFER_SIZE_VARIABLE),
                        (args.include and " ".join(args.include), _env.INCLUDE_VARIABLE),
                        (args.exclude and " ".join(args.exclude), _env.EXCLUDE_VARIABLE),
                        (args.redact and " ".join(args.redact), _env.REDACT_VARIABLE),
                        (args.redact_value and json.dumps(args.redact_value),
                         _env.REDACT_VALUES_VARIABLE),
                        (args.generators and "yes", _env.GENERATORS_VARIABLE),
                        (args.paused and "no", _env.START_VARIABLE),
                        (args.signals, _env.SIGNALS_VARIABLE),
                        (args.stats_file, _env.STATS_FILE_VARIABLE),
                        (flight and ",".join(["dump-on-slow=" + rule for rule in
                                              args.dump_on_slow or ()] + [flight]),
                         _env.FLIGHT_RECORDER_VARIABLE),
                        (args.flight_recorder_file, _flight_file.FILE_VARIABLE),
                        (args.keep_flight_recorder_file and "yes", _flight_file.KEEP_VARIABLE),
                        (args.min_duration, _retention.MIN_DURATION_VARIABLE),
                        (args.keep_slow, _retention.KEEP_SLOW_VARIABLE)):
        if value:
            update[name] = value
    path = environ.get("PYTHONPATH", "")
    if BOOT_DIRECTORY not in path.split(os.pathsep):
        update["PYTHONPATH"] = os.pathsep.join([BOOT_DIRECTORY] + ([path] if path else []))
    return update


def export_to_children(args):
    """Put child_environment(args) into this process's environment (the
    program sees these variables too)."""
    os.environ.update(child_environment(args))
