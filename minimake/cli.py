"""The command line, with make's flags; the only place errors become exit codes."""

from __future__ import annotations

import argparse
import contextlib
import errno
import gc
import os
import re
import signal
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, TextIO

from minimake import __version__, interrupts
from minimake.procfs import cores

if TYPE_CHECKING:
    from minimake.graph import Graph
    from minimake.options import Options
    from minimake.record import Run
    from minimake.view.progress import ProgressReporter

_VARIABLE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$", re.DOTALL)

EXIT_OK, EXIT_STALE, EXIT_ERROR = 0, 1, 2
EXIT_SIGNALLED = 128  # plus the signal's number, as a shell reports a process it killed
PROGRAM = "minimake"


class _LeftRunning(Exception):
    """The build gave up waiting for recipes it cannot stop (threads): the command must end
    without joining them, with ``status``."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


def _interrupted(stop: KeyboardInterrupt) -> int:
    """make's status for the signal that stopped it (it re-raises the signal on itself):
    130 for Ctrl-C, 143 for SIGTERM, 129 for SIGHUP."""
    return EXIT_SIGNALLED + getattr(stop, "signum", signal.SIGINT)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="minimake",
        description="Bring targets up to date by running the recipes in tasks.py, as make does.",
        epilog="Variables: NAME=value arguments are read in tasks.py with minimake.var('NAME').",
    )
    _add_make_flags(parser)
    _add_make_modes(parser)
    _add_minimake_options(parser)
    _add_cluster_options(parser)
    parser.add_argument("--version", action="version", version=f"minimake {__version__}")
    return parser


def _add_make_flags(parser: argparse.ArgumentParser) -> None:
    """make's flags for what to build, from where, and how many recipes at once."""
    add = parser.add_argument
    add("targets", nargs="*", metavar="target", help="goals to build, and NAME=value variables")
    add("-f", "--file", default="tasks.py", metavar="FILE", help="read FILE (default tasks.py)")
    add(
        "-C",
        "--directory",
        action="append",
        default=[],
        metavar="DIR",
        help="change to DIR before doing anything (each -C from the one before, as in make)",
    )
    add(
        "-j",
        "--jobs",
        nargs="?",
        const="all",
        default=None,
        metavar="N",
        help="run N recipes at once (default 1, or a Dask cluster's worker threads; "
        "bare -j: one per core)",
    )


def _add_make_modes(parser: argparse.ArgumentParser) -> None:
    """make's flags that change what a run does: pretend, force, go on, touch, assume."""
    add = parser.add_argument
    add(
        "-n",
        "--dry-run",
        "--just-print",
        "--recon",
        action="store_true",
        help="print the recipes that would run, in order, and run none",
    )
    add("-B", "--always-make", action="store_true", help="consider every target stale")
    add(
        "-k",
        "--keep-going",
        action="store_true",
        help="after a failure, build everything that does not depend on it",
    )
    add("-i", "--ignore-errors", action="store_true", help="count failed recipes as success")
    add(
        "-q",
        "--question",
        action="store_true",
        help="run nothing, print nothing; exit 0 if up to date, 1 if not",
    )
    add("-t", "--touch", action="store_true", help="touch stale targets instead of remaking them")
    add("-s", "--silent", "--quiet", action="store_true", help="do not echo recipes")
    add(
        "-W",
        "--what-if",
        "--new-file",
        "--assume-new",
        action="append",
        default=[],
        metavar="FILE",
        help="pretend FILE was just modified",
    )
    add(
        "-o",
        "--old-file",
        "--assume-old",
        action="append",
        default=[],
        metavar="FILE",
        help="treat FILE as very old and do not remake it",
    )


def _add_minimake_options(parser: argparse.ArgumentParser) -> None:
    """What minimake adds: reasons, memory between runs, inspection and reports."""
    add = parser.add_argument
    add(
        "-v",
        "--verbose",
        action="store_true",
        help="show why each task runs, and a failed Python recipe's traceback",
    )
    add(
        "--rerun-triggers",
        metavar="LIST",
        help="what makes a task rerun: mtime (make's rule, the default) or mtime,recipe "
        "(also when its recipe changed since it last ran: command lines, or a Python "
        "function's code and arguments), and params (when its declared params changed); "
        "tasks.py can set it with rerun_triggers()",
    )
    add(
        "--retries",
        type=int,
        default=0,
        metavar="N",
        help="run a failed recipe up to N more times before it counts as failed, for tasks "
        "that set no retries= of their own (default 0)",
    )
    add(
        "--no-journal",
        action="store_true",
        help="keep no memory between runs in .minimake/journal and take no lock, as make",
    )
    add("--json", action="store_true", help="the run (or -n) as JSON on stdout; logs on stderr")
    add("--explain", metavar="TARGET", help="say why TARGET is stale or up to date; run nothing")
    add("--list", action="store_true", help="list the tasks with their descriptions")
    add(
        "--timings",
        action="store_true",
        help="write a page of where the time went to .minimake/timings/ (one HTML file)",
    )
    _add_results_options(parser)
    add("--trace", metavar="FILE", help="write the run as a Chrome trace to FILE (for Perfetto)")
    add(
        "--progress",
        choices=("auto", "live", "plain", "off"),
        default=os.environ.get("MINIMAKE_PROGRESS", "auto"),
        help="live display, a plain line per task, or make's output only (default auto: live "
        "on a terminal, plain elsewhere; MINIMAKE_PROGRESS sets it)",
    )
    add(
        "--graph",
        nargs="?",
        const="dot",
        metavar="FORMAT",
        help="print the goals' DAG as Graphviz dot (default) or mermaid, and run nothing",
    )


def _add_results_options(parser: argparse.ArgumentParser) -> None:
    """--results and its companions: what the tasks with params or metrics recorded."""
    group = parser.add_argument_group("results of tasks with params or metrics")
    add = group.add_argument
    add(
        "--results",
        nargs="?",
        const="declared",
        metavar="all",
        help="print a table of each declared task with params or metrics: its state, params "
        "(those that differ between rows), metrics, duration and end; --results=all adds "
        "those recorded but no longer declared; goals restrict it to what they need",
    )
    add(
        "--sort",
        metavar="NAME",
        help="order --results by a metric or param: highest first for a name that reads as a "
        "score (acc, score, f1, auc, ...), lowest first otherwise; --sort=-NAME highest "
        "first, --sort=+NAME lowest first",
    )
    add("--all-params", action="store_true", help="in --results, show every param column")
    add(
        "--results-page",
        nargs="?",
        const=".minimake/results.html",
        metavar="FILE",
        help="write --results as one HTML page with a chart per numeric param (default "
        ".minimake/results.html)",
    )
    add(
        "--forget-results",
        action="store_true",
        help="drop every recorded result from .minimake/journal (a clean keeps them)",
    )


def _add_cluster_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("executors and clusters (docs/cluster.md)")
    add = group.add_argument
    add(
        "--executor",
        choices=("process", "thread", "dask"),
        default=os.environ.get("MINIMAKE_EXECUTOR") or None,
        help="where recipes run (default process; MINIMAKE_EXECUTOR sets it); dask alone "
        "starts a loopback Dask cluster of -j workers",
    )
    add("--scheduler", metavar="ADDRESS", help="run on the Dask cluster at ADDRESS")
    add("--scheduler-file", metavar="FILE", help="run on the Dask cluster FILE describes")
    add(
        "--latency-wait",
        type=float,
        metavar="SECONDS",
        help="on Dask, wait this long for outputs a worker wrote to show up here (default 5)",
    )
    add(
        "--timeout",
        type=float,
        metavar="SECONDS",
        help="stop a recipe that runs longer than this and fail its task (for every task "
        "that sets no timeout of its own): SIGTERM to its process group, SIGKILL 5s later",
    )
    add(
        "--resource",
        action="append",
        default=[],
        metavar="NAME=N",
        help="at most N of NAME held by running tasks at once (tasks ask with resources=); "
        "NAME=a,b,c names each unit, and a task is told the ones it holds (gpu=auto: this "
        "machine's GPUs)",
    )


def _split(words: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    goals, variables = [], {}
    for word in words:
        match = _VARIABLE.match(word)
        if match:
            variables[match.group(1)] = match.group(2)
        else:
            goals.append(word)
    return goals, variables


_JOBS_ATTACHED = re.compile(r"^(--jobs=|-[nBkiqtsv]*j.)")


class _BadJobs(Exception):
    """-j with a value that is no positive integer (make: exit 2)."""


def _jobs(value: str | None, goals: list[str], attached: bool = False) -> int | None:
    """-j's count. A word after a bare -j is a goal (``-j all``), as make reads it, unless it
    is a number; a value written onto the option (``-j1foo``, ``--jobs=0``) must be a count."""
    if value is None:
        return None  # make's 1, or on a Dask cluster its worker threads
    if value == "all":
        return cores()
    if value.isdigit() and int(value) > 0:
        return int(value)
    if attached or re.fullmatch(r"[-+]?\d+", value):
        raise _BadJobs(value)
    # `-j all` style: the word after a bare -j was a goal, not a count (make reads it so too).
    goals.insert(0, value)
    return _jobs("all", goals)


def _buffered(stream: TextIO | None, **settings: bool) -> bool:
    """Set how a text stream buffers (``reconfigure``'s keywords); whether it could be."""
    reconfigure = getattr(stream, "reconfigure", None)
    if reconfigure is None:
        return False
    try:
        reconfigure(**settings)
    except (ValueError, OSError):  # closed, or not a text stream
        return False
    return True


def main(argv: Sequence[str] | None = None) -> int:
    """Run minimake with ``argv``; returns make's exit status (0, 1 for -q stale, 2, or 128
    plus the signal that stopped it)."""
    command = argv is None  # this process is the minimake command, not a caller's
    if command:
        # From here on the first stopping signal raises and later ones are counted: a second
        # Ctrl-C never cuts the clean-up of the first short.
        interrupts.install()
        _standard_streams()
    try:
        return _main(argv, command)
    except KeyboardInterrupt as stop:  # before the build or after it: no traceback
        return _interrupted(stop)
    except _LeftRunning as left:
        if not command:
            return left.status
        # Python would join the recipes' threads at exit, which nothing can stop: end now.
        # Their tasks stay marked as started in the journal; the next run reruns them.
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(left.status)


def _standard_streams() -> None:
    """A standard stream closed at start (``minimake >&-``) reads and writes /dev/null, as
    make's lines go nowhere there; else the next file opened (the journal) would take its
    descriptor and receive everything printed. An output left open for reading only (a
    wrapper script's own file) counts as closed: nothing could be written to it."""
    import fcntl

    for fd, name in ((0, "stdin"), (1, "stdout"), (2, "stderr")):
        try:
            access = fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE
        except OSError:
            access = None
        if access is not None and (fd == 0 or access != os.O_RDONLY):
            continue
        devnull = os.open(os.devnull, os.O_RDWR)
        if devnull != fd:
            os.dup2(devnull, fd)
            os.close(devnull)
        stream = getattr(sys, name)
        if stream is None or access is not None:
            mode = "r" if fd == 0 else "w"
            setattr(sys, name, open(fd, mode, encoding="utf-8", closefd=False))  # noqa: SIM115


def _main(argv: Sequence[str] | None, command: bool) -> int:
    parser = _parser()
    if command:
        # make's stdout is line-buffered: each line is out before the next one goes to
        # stderr, so that echoes, errors and progress lines keep their order in one pipe.
        _buffered(sys.stdout, line_buffering=True)
    argv = list(sys.argv[1:] if argv is None else argv)
    read = _read(parser, argv)
    if read is None:
        return EXIT_ERROR
    options, goals, variables, jobs = read
    from minimake.errors import MinimakeError
    from minimake.view.progress import for_cli

    pretend = options.dry_run or options.touch or options.question
    # Nothing runs, so nothing is live: when stdout and stderr are one file, the lines of both
    # go through stdout's buffer in their order and out a block at a time, not one write()
    # each (20,000 for a 10,000-task -n: 30 ms of its half second).
    merged = (
        command
        and pretend
        and _one_file_off_a_terminal()
        and _buffered(sys.stdout, line_buffering=False, write_through=False)
    )
    reporter = for_cli(
        mode=options.progress,
        silent=options.silent,
        quiet=options.question,
        verbose=options.verbose,
        dry_run=options.dry_run,
        pretend=pretend,
        as_json=options.json,
        errors_to=sys.stdout if merged else None,
        # make -s -n prints the commands: -s silences real runs only (not -n -t's touches).
        show_silenced=options.dry_run and not options.touch,
        goals=tuple(goals),
    )
    entered = False
    try:
        for directory in options.directory:
            try:
                os.chdir(directory)
            except OSError as error:
                reporter.fatal(MinimakeError(f"{directory}: {error.strerror}."))
                return EXIT_ERROR
            entered = True
        if entered and not options.silent:
            reporter.note(f"Entering directory '{os.getcwd()}'")
        status = _build(options, goals, variables, jobs, reporter)
        if entered and not options.silent:
            reporter.note(f"Leaving directory '{os.getcwd()}'")
        if merged:
            sys.stdout.flush()  # here, where a closed pipe is make's SIGPIPE, not at exit
        return status
    except BrokenPipeError:
        return _stdout_closed()
    finally:
        reporter.close()
        if command:
            # This process is the minimake command and ends now. Spare Python's walks of every
            # object at exit (a tenth of a second each for a 50,000-task graph): objects are
            # still freed as their last reference goes, and atexit handlers still run.
            gc.freeze()


def _read(
    parser: argparse.ArgumentParser, argv: list[str]
) -> tuple[argparse.Namespace, list[str], dict[str, str], int | None] | None:
    """The flags, the goals, the NAME=value variables and -j's count; None (after make's
    message) when -j's count is no positive integer."""
    args = parser.parse_args(argv)
    if args.results not in (None, "declared", "all") or (
        args.results == "all" and "--results=all" not in argv
    ):  # `--results all`: the word was a goal; --results=all asks for every row
        args.targets.insert(0, args.results)
        args.results = "declared"
    if args.results_page and _VARIABLE.match(args.results_page):  # `--results-page GRID=small`
        args.targets.insert(0, args.results_page)
        args.results_page = ".minimake/results.html"
    goals, variables = _split(args.targets)
    if args.graph and _VARIABLE.match(args.graph):  # `--graph GRID=small`
        goals, variables = _split([args.graph, *args.targets])
        args.graph = "dot"
    words = argv[: argv.index("--")] if "--" in argv else argv
    try:
        jobs = _jobs(args.jobs, goals, any(_JOBS_ATTACHED.match(w) for w in words))
    except _BadJobs:
        print(f"{PROGRAM}: the '-j' option requires a positive integer argument", file=sys.stderr)
        parser.print_usage(sys.stderr)
        return None
    return args, goals, variables, jobs


def _one_file_off_a_terminal() -> bool:
    """Whether stdout and stderr are one file that is no terminal (``>log 2>&1``, ``2>&1 |``)."""
    from minimake.execution.capture import same_file

    try:
        return not sys.stdout.isatty() and same_file(sys.stdout.fileno(), sys.stderr.fileno())
    except (AttributeError, OSError, ValueError):  # replaced, closed, or no file underneath
        return False


def _stdout_closed() -> int:
    """stdout was closed under us (``minimake -n | head -1``): end as make does when SIGPIPE
    kills it, with 128 + SIGPIPE and no traceback. Whatever is still buffered goes nowhere,
    so Python's own flush at exit cannot fail again."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return EXIT_SIGNALLED + signal.SIGPIPE


def _build(
    args: argparse.Namespace,
    goals: list[str],
    variables: dict[str, str],
    jobs: int | None,
    reporter: ProgressReporter,
) -> int:
    from minimake.errors import MinimakeError
    from minimake.scheduler import BuildInterrupted

    if os.path.isdir(args.file):  # make: "*** dir: Is a directory.  Stop."
        reporter.fatal(MinimakeError(f"{args.file}: {os.strerror(errno.EISDIR)}."))
        return EXIT_ERROR
    # Anything else that exists is read: /dev/null is an empty tasks file ("No targets").
    if not os.path.exists(args.file):
        if args.file == "tasks.py" and not goals:
            reporter.fatal(MinimakeError("No targets specified and no tasks.py found."))
        else:
            reporter.fatal(MinimakeError(f"{args.file}: No such file or directory."))
        return EXIT_ERROR
    try:
        if args.results or args.results_page or args.forget_results:
            from minimake.results_command import results

            return results(args, _inspected(args, goals, variables), reporter)
        if args.list or args.graph or args.explain:
            return _inspect(args, _inspected(args, goals, variables), reporter)
        return _run(args, _options(args, goals, variables, jobs), reporter)
    except MinimakeError as error:
        reporter.fatal(error)
        return EXIT_ERROR
    except BuildInterrupted as stop:
        status = _stdout_closed() if stop.signum == signal.SIGPIPE else _interrupted(stop)
        if stop.left:
            raise _LeftRunning(status) from None
        return status
    except KeyboardInterrupt as stop:  # before the build: the lock, tasks.py's import
        return _interrupted(stop)


def _options(
    args: argparse.Namespace, goals: list[str], variables: dict[str, str], jobs: int | None
) -> Options:
    """The build's options, from make's flags and minimake's."""
    from minimake.options import Options
    from minimake.resources import parse_limits

    return Options(
        file=args.file,
        goals=goals,
        jobs=jobs,
        dry_run=args.dry_run,
        question=args.question,
        touch=args.touch,
        always_make=args.always_make,
        keep_going=args.keep_going,
        silent=args.silent,
        ignore_errors=args.ignore_errors,
        what_if=args.what_if,
        old=args.old_file,
        variables=variables,
        executor=args.executor,
        scheduler=args.scheduler,
        scheduler_file=args.scheduler_file,
        latency_wait=args.latency_wait,
        timeout=args.timeout,
        resources=parse_limits(args.resource),
        timings=args.timings,
        trace=os.path.abspath(args.trace) if args.trace else None,
        rerun_triggers=args.rerun_triggers,
        journal=not args.no_journal,
        retries=args.retries,
    )


def _inspected(args: argparse.Namespace, goals: list[str], variables: dict[str, str]) -> Options:
    """The options --list and --graph read: the tasks and which files exist (the flags for a
    build alone are neither used nor checked)."""
    from minimake.options import Options

    return Options(
        file=args.file, goals=goals, what_if=args.what_if, old=args.old_file, variables=variables
    )


def _run(args: argparse.Namespace, options: Options, reporter: ProgressReporter) -> int:
    """Build, and make's exit status for the result."""
    from minimake.engine import run

    result = run(options, reporter)
    if args.timings and result.timings is not None:
        _saved(reporter, options.folder, result.timings)
    if not result.ok:
        return EXIT_ERROR
    if args.question and result.stale:
        return EXIT_STALE
    return EXIT_OK


def _saved(reporter: ProgressReporter, folder: str, run: Run) -> None:
    from minimake.view.timings_page import FOLDER, page_path
    from minimake.view.ui import write_line
    from minimake.words import shown

    path = page_path(os.path.join(folder, FOLDER), run)
    write_line(reporter.err, f"Timing report saved to {shown(path)}")


def _inspect(args: argparse.Namespace, options: Options, reporter: ProgressReporter) -> int:
    """--list, --graph and --explain: read the tasks and print; run nothing."""
    from minimake.engine import load_graph
    from minimake.graph import default_goal
    from minimake.view.render import list_tasks

    if args.list:
        graph = load_graph(options)
        reporter.show(list_tasks(graph.tasks.values(), default_goal(graph)))
        return EXIT_OK
    if args.explain:
        return _explain(args, options, reporter)
    return _graph(args.graph, options, load_graph(options), reporter)


def _graph(form: str, options: Options, graph: Graph, reporter: ProgressReporter) -> int:
    """--graph: the goals' DAG as dot or mermaid."""
    from minimake.disk import Disk
    from minimake.errors import UsageError
    from minimake.graph import default_goal, resolve_goals, select
    from minimake.view.render import GRAPH_FORMATS, render_graph

    goals = list(options.goals)
    if form not in GRAPH_FORMATS:
        if graph.task_of(form) is None:
            raise UsageError(f"Unknown graph format '{form}': choose dot or mermaid.")
        goals.insert(0, form)  # `--graph all`: the word was a goal, not a format
        form = "dot"
    goals = goals or [name for name in [default_goal(graph)] if name]
    if not goals:
        raise UsageError("No targets.")
    disk = Disk(options.folder, what_if=options.what_if, old=options.old)
    names, _ = resolve_goals(graph, goals, disk.exists, disk.root)
    reporter.show(render_graph(graph, select(graph, names), form).splitlines())
    return EXIT_OK


def _explain(args: argparse.Namespace, options: Options, reporter: ProgressReporter) -> int:
    """--explain TARGET: a dry run of the target alone, read back from the target to the first
    cause; with the flags that change what is stale, and only those."""
    import attrs

    from minimake.engine import execute, prepare
    from minimake.events import NullReporter
    from minimake.task import normal_path
    from minimake.view.explain import describe, explain

    target = normal_path(args.explain)  # `./a.txt` is `a.txt`, as for any goal
    probe = attrs.evolve(
        options,
        goals=(target,),
        dry_run=True,
        keep_going=True,  # a failure on the way is a step of the chain, not the end of it
        always_make=args.always_make,
        rerun_triggers=args.rerun_triggers,
        journal=not args.no_journal,
    )
    quiet = NullReporter()
    with prepare(probe, quiet) as prepared:
        result = execute(prepared, quiet)
    steps = explain(prepared.graph, result, target, prepared.disk.stamp)
    reporter.show(describe(steps, target))
    return EXIT_OK
