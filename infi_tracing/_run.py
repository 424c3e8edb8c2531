"""``python -m infi_tracing run [options] (script.py | -m module) [args]``.

Runs a program traced, the way ``python script.py`` / ``python -m module``
would run it: same ``sys.argv``, ``__main__``, ``sys.path[0]``, exit code,
exceptions and standard streams.  Options default to the INFI_TRACING_*
environment (an option given on the command line replaces its variable).
At exit a short summary goes to stderr.
"""

import argparse
import atexit
import os
import runpy
import sys

from infi_tracing import (
    _api,
    _children,
    _config,
    _env,
    _flight,
    _options,
    _retention,
    _run_exit,
    _run_launch,
    _summary,
)

__all__ = ["add_run_parser", "split_run_argv", "run"]

USAGE = "%(prog)s [options] (script.py | -m module) [args ...]"

def add_run_parser(commands):
    """The `run` subcommand's parser (options only; see split_run_argv)."""
    run_parser = commands.add_parser(
        "run", usage=USAGE, allow_abbrev=False,
        help="run a Python script or module traced",
        description="Run a Python script (or -m module) traced, like python would run it. "
                    "Every option defaults to its INFI_TRACING_* environment variable, so "
                    "with those set no option is needed.",
        epilog="Globs: one with a '/' or ending in .py matches file paths, any other "
               "matches module names (a package's name also matches its submodules). A "
               "function is traced when it matches an --include (or there is none) and no "
               "--exclude. Children: forked ones go on tracing; multiprocessing's spawn and "
               "forkserver children trace themselves with the same settings (run passes them "
               "in INFI_TRACING_* and PYTHONPATH), each under its pid, a Perfetto file "
               "becoming NAME.PID.json per child; other Python subprocesses are not traced.")
    run_parser.add_argument("-m", dest="module", metavar="MODULE",
                            help="run a library module as a script (like python -m)")
    run_parser.add_argument("--sink", action="append", metavar="URL",
                            help="where records go (repeatable; default: INFI_TRACING_SINKS, "
                                 "else stderr), e.g. binary:///tmp/app.itr")
    run_parser.add_argument("--level", metavar="LEVEL",
                            help="name, primitives or repr (or TRACE_FUNC_NAME, ...; "
                                 "default: INFI_TRACING_LEVEL, else name)")
    run_parser.add_argument("--include", action="append", metavar="GLOB",
                            help="trace only matching modules or files (repeatable; "
                                 "INFI_TRACING_INCLUDE)")
    run_parser.add_argument("--exclude", action="append", metavar="GLOB",
                            help="never trace matching modules or files (repeatable; "
                                 "INFI_TRACING_EXCLUDE)")
    run_parser.add_argument("--backend", metavar="NAME",
                            help="%s (INFI_TRACING_BACKEND)" % ", ".join(_options.BACKENDS))
    run_parser.add_argument("--min-duration", metavar="DURATION",
                            help="sinks write only calls that took at least this long (e.g. "
                                 "2ms), with their ancestors (INFI_TRACING_MIN_DURATION)")
    run_parser.add_argument("--keep-slow", metavar="GLOB>DURATION",
                            help="sinks write the whole subtree of each call of a function "
                                 "matching GLOB that took at least DURATION, nothing of the "
                                 "fast ones (INFI_TRACING_KEEP_SLOW)")
    run_parser.add_argument("--overflow", choices=_options.OVERFLOW_MODES,
                            help="drop (default) or block (INFI_TRACING_OVERFLOW)")
    run_parser.add_argument("--buffer-size", metavar="BYTES",
                            help="ring bytes per thread, e.g. 8M (INFI_TRACING_BUFFER_SIZE)")
    run_parser.add_argument("--generators", action=argparse.BooleanOptionalAction,
                            default=None,
                            help="generator/coroutine re-entries and suspensions as resume/"
                                 "yield (default) or, with --no-generators, as call/return "
                                 "(INFI_TRACING_GENERATORS)")
    run_parser.add_argument("--redact", action="append", metavar="NAME",
                            help="also redact values named like NAME (a word, or a glob; "
                                 "repeatable), or 'none' to redact no name "
                                 "(INFI_TRACING_REDACT)")
    run_parser.add_argument("--redact-value", action="append", metavar="REGEX",
                            help="redact every value matching REGEX (POSIX extended; "
                                 "repeatable; INFI_TRACING_REDACT_VALUES)")
    run_parser.add_argument("--signals", metavar="SPEC",
                            help="install signal handlers: yes (toggle=USR2,stats=USR1) or "
                                 "toggle=SIG,stats=SIG (INFI_TRACING_SIGNALS)")
    run_parser.add_argument("--stats-file", metavar="PATH",
                            help="where the stats signal appends JSON "
                                 "(INFI_TRACING_STATS_FILE)")
    run_parser.add_argument("--flight-recorder", metavar="SPEC",
                            help="keep the recent past in memory for snapshots, e.g. 30s,64M "
                                 "(README: Always-on in production; "
                                 "INFI_TRACING_FLIGHT_RECORDER); with no --sink, records go "
                                 "only there")
    run_parser.add_argument("--flight-recorder-file", metavar="PATH",
                            help="keep the rings and the flight recorder in this file "
                                 "({pid}: the process id; e.g. /dev/shm/app-{pid}.flight) so "
                                 "that 'recover' reads them after a crash; removed at a clean "
                                 "exit (INFI_TRACING_FLIGHT_RECORDER_FILE)")
    run_parser.add_argument("--keep-flight-recorder-file", action="store_true", default=None,
                            help="leave the --flight-recorder-file at a clean exit too "
                                 "(INFI_TRACING_FLIGHT_RECORDER_FILE_KEEP=yes)")
    run_parser.add_argument("--dump-on-slow", action="append", metavar="RULE",
                            help="with the flight recorder: a snapshot when a call of a "
                                 "matching function takes that long, e.g. "
                                 "'myapp.handle>500ms' (repeatable)")
    run_parser.add_argument("--paused", action="store_true", default=None,
                            help="start with tracing off, for the toggle signal to switch on "
                                 "(INFI_TRACING_START=no)")
    run_parser.add_argument("--no-summary", dest="summary", action="store_false",
                            help="print no summary at exit")
    run_parser.add_argument("--top", type=int, default=10, metavar="N",
                            help="functions listed in the summary (default 10)")
    run_parser.add_argument("target", nargs="?", metavar="script.py",
                            help="the script (a file, a directory or zip with __main__.py)")
    run_parser.add_argument("args", nargs=argparse.REMAINDER,
                            help="arguments for the program")
    run_parser.set_defaults(run=run)
    return run_parser


def _value_options(run_parser):
    """The option strings of `run_parser` that take a value (the rest are
    flags): asked of the parser itself, so a new option splits right."""
    return frozenset(name for action in run_parser._actions  # argparse lists no other way
                     if action.nargs != 0 for name in action.option_strings)


def split_run_argv(argv, run_parser):
    """(options, module, target, program args) from the words after `run`
    (parsed later by `run_parser`, add_run_parser's): options end at the
    script (or -m MODULE, or --), like python's own."""
    value_options = _value_options(run_parser)
    i = 0
    while i < len(argv):
        word = argv[i]
        if word == "--":
            rest = argv[i + 1:]
            return argv[:i], None, rest[:1], rest[1:]
        if word == "-m" or (word.startswith("-m") and not word.startswith("--")):
            module = word[2:] or (argv[i + 1] if i + 1 < len(argv) else None)
            after = i + 1 if word[2:] else i + 2
            if module is None:
                return argv, None, [], []  # argparse reports the missing value
            return argv[:i], module, [], argv[after:]
        if not word.startswith("-") or word == "-":
            return argv[:i], None, [word], argv[i + 1:]
        i += 2 if word in value_options else 1
    return argv, None, [], []


def _settings(args, parser):
    """set_tracing() arguments, sinks, signals and start flag: the command line
    over the environment."""
    try:
        options = _env.tracing_options_from_environment()
    except ValueError as exc:
        parser.error(str(exc))
    try:
        if args.level is not None:
            options["level"] = _env.parse_level(args.level, "--level")
        if args.backend is not None:
            options["backend"] = _env.parse_choice(args.backend, _options.BACKENDS, "--backend")
        if args.overflow is not None:
            options["overflow"] = args.overflow
        for key, flag in (("min_duration", "--min-duration"), ("keep_slow", "--keep-slow")):
            value = getattr(args, key)
            if value is not None:
                options[key] = _retention.check_option(key, value, flag)
        if args.buffer_size is not None:
            options["buffer_size"] = _options.check_buffer_size_range(
                _env.parse_buffer_size(args.buffer_size, "--buffer-size"), "--buffer-size",
                args.buffer_size)
        _options.check_backend_available(options.get("backend", "auto"),
                                         "--backend" if args.backend else _env.BACKEND_VARIABLE)
        if args.generators is not None:
            options["generators"] = args.generators
        if args.flight_recorder is not None:
            options["flight_recorder"] = _flight.parse_flight_recorder(args.flight_recorder,
                                                                       "--flight-recorder")
        if args.flight_recorder_file is not None or args.keep_flight_recorder_file:
            recorder = options.get("flight_recorder") or _flight.FlightRecorder()
            if not (args.flight_recorder_file or recorder.file):
                raise ValueError("--keep-flight-recorder-file needs --flight-recorder-file")
            options["flight_recorder"] = _flight.with_changes(
                recorder, file=args.flight_recorder_file or recorder.file,
                keep_file=bool(args.keep_flight_recorder_file or recorder.keep_file))
        if args.dump_on_slow:
            options["flight_recorder"] = _flight.with_slow_rules(
                options.get("flight_recorder"), args.dump_on_slow, "--dump-on-slow")
        if args.include:
            options["include"] = args.include
        if args.exclude:
            options["exclude"] = args.exclude
        if args.redact:
            _options.check_redact(args.redact, "--redact")
            options["redact"] = args.redact
        if args.redact_value:
            options["redact_values"] = list(
                _options.check_redact_values(args.redact_value, "--redact-value"))
        signals = (_env.parse_signals(args.signals, "--signals") if args.signals is not None
                   else _env.signals_from_environment())
        start = False if args.paused else _env.start_from_environment()
        if not start and (signals is None or signals["toggle"] is None):
            raise ValueError("%s: nothing would start tracing without a toggle signal "
                             "(add --signals yes or --signals toggle=SIGNAL)"
                             % ("--paused" if args.paused else _env.START_VARIABLE + "=no"))
        _check_stats_file(args)
        _env.clock_from_environment()
    except ValueError as exc:
        parser.error(str(exc))
    arguments = _env.set_tracing_arguments(options)
    arguments["filter"] = _run_launch.program_filter(arguments["filter"])
    if args.sink:
        try:
            sinks = _config.sinks_from_specs(args.sink)
        except ValueError as exc:
            parser.error("--sink: %s" % exc)
        except OSError as exc:
            parser.error("--sink: %s" % exc)
    else:
        try:
            sinks = _env.sinks_from_environment()
        except (ValueError, OSError) as exc:
            parser.error(str(exc))
        if sinks is None:
            sinks = [] if arguments.get("flight_recorder") else _config.sinks_from_specs(
                ["stderr"])
    return arguments, sinks, signals, start


def _check_stats_file(args):
    from infi_tracing import _signals
    if args.stats_file:
        _signals.check_stats_file(args.stats_file, "--stats-file")
    elif _env.stats_file_from_environment():
        _signals.check_stats_file(_env.stats_file_from_environment(), _env.STATS_FILE_VARIABLE)


def _set_sys_path(target, module):
    """sys.path[0] as python sets it: the script's directory, or the current
    directory for -m (nothing with -P / PYTHONSAFEPATH)."""
    if getattr(sys.flags, "safe_path", False):
        return
    if module is not None:
        entry = os.getcwd()
    elif os.path.isdir(target) or not target.endswith(".py") and _is_zip(target):
        entry = None  # runpy.run_path puts the directory or zip itself first
    else:
        entry = os.path.dirname(os.path.realpath(target))
    if sys.path and entry is None:
        del sys.path[0]
    elif sys.path:
        sys.path[0] = entry
    elif entry is not None:
        sys.path.insert(0, entry)


def _set_argv(args):
    """sys.argv as the program sees it (runpy puts a module's file path first
    once it has found it)."""
    sys.argv[:] = [args.module if args.module is not None else args.target] + list(args.args)


def _is_zip(path):
    import zipfile
    try:
        return zipfile.is_zipfile(path)
    except OSError:
        return False


def _program_traceback(exc):
    """The exception's traceback with the frames of run and runpy cut off."""
    own = (globals(), vars(runpy))
    tb = exc.__traceback__
    while tb is not None and any(tb.tb_frame.f_globals is g for g in own):
        tb = tb.tb_next
    return tb


def _print_exception(exc):
    """The traceback python would print: the frames of run and runpy cut off."""
    tb = exc.__traceback__ = _program_traceback(exc)  # the default hook prints this one
    sys.excepthook(type(exc), exc, tb)


def _reraise_keyboard_interrupt(exc):
    """Let python itself end the program (after the atexit functions it dies
    of SIGINT, as a program interrupted by Ctrl-C does), but show the
    program's traceback: re-raising adds run's frames back, so the
    excepthook in place is handed the cut one."""
    tb = _program_traceback(exc)
    previous = sys.excepthook

    def hook(kind, value, traceback):
        sys.excepthook = previous
        if value is exc:
            traceback = exc.__traceback__ = tb
        previous(kind, value, traceback)

    sys.excepthook = hook
    raise exc


def run(args, parser=None):
    """Run the program traced; returns its exit code (SystemExit propagates)."""
    parser = parser or argparse.ArgumentParser(prog="infi_tracing run")
    if args.module is None and not args.target:
        parser.error("a script or -m module is required")
    if args.module is None and not os.path.exists(args.target):
        parser.error("can't open file %r: no such file or directory" % args.target)
    _set_argv(args)  # before the sinks are made: syslog's APP-NAME is the program's name
    arguments, sinks, signals, start = _settings(args, parser)

    summary = _summary.RunSummary() if args.summary else None
    _api.set_sinks(sinks)
    _children.export_to_children(args)  # Python child processes trace themselves
    if signals is not None and any(v is not None for v in signals.values()):
        from infi_tracing import _signals
        _signals.install_signal_handlers(toggle=signals["toggle"], stats=signals["stats"],
                                         stats_file=args.stats_file, dump=signals.get("dump"))
    elif args.stats_file:
        os.environ[_env.STATS_FILE_VARIABLE] = args.stats_file
    _run_exit.install_stop_handlers(summary, args.top)
    if summary is not None:
        atexit.register(_run_exit.print_summary_at_exit)

    _set_sys_path(args.target, args.module)
    try:
        if start and args.module is not None:
            _api.set_tracing(**dict(arguments, filter=_run_launch.launch_filter(
                arguments["filter"])))
        problem = _run_launch.module_error(args.module) if args.module is not None else None
        if problem is not None:
            _api.unset_tracing()  # the program never ran
            sys.stderr.write(problem + "\n")
            return 1
        if start:
            _api.set_tracing(**arguments)  # (again for -m: the launch's decisions are forgotten)
        else:
            _api.remember_arguments(arguments)  # for the toggle signal
        if args.module is not None:
            runpy.run_module(args.module, run_name="__main__", alter_sys=True)
        else:
            runpy.run_path(args.target, run_name="__main__")
    except SystemExit:
        raise
    except KeyboardInterrupt as exc:
        _reraise_keyboard_interrupt(exc)
    except BaseException as exc:  # noqa: B036 - reported like python does
        _print_exception(exc)
        return 1
    return 0
