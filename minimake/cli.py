"""The command line, with make's flags; the only place errors become exit codes."""

from __future__ import annotations

import argparse
import os
import re
import signal
from collections.abc import Sequence
from types import FrameType

from minimake import __version__

_VARIABLE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$", re.DOTALL)

EXIT_OK, EXIT_STALE, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130


class _Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised like Ctrl-C so the build stops the same way."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise _Terminated(signum)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="minimake",
        description="Bring targets up to date by running the recipes in tasks.py, as make does.",
        epilog="Variables: NAME=value arguments are read in tasks.py with minimake.var('NAME').",
    )
    add = parser.add_argument
    add("targets", nargs="*", metavar="target", help="goals to build, and NAME=value variables")
    add("-f", "--file", default="tasks.py", metavar="FILE", help="read FILE (default tasks.py)")
    add("-C", "--directory", metavar="DIR", help="change to DIR before doing anything")
    add(
        "-j",
        "--jobs",
        nargs="?",
        const="all",
        default="1",
        metavar="N",
        help="run N recipes at once (default 1; bare -j: one per core)",
    )
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
    add("-v", "--verbose", action="store_true", help="show a failed Python recipe's traceback")
    add("--version", action="version", version=f"minimake {__version__}")
    return parser


def _split(words: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    goals, variables = [], {}
    for word in words:
        match = _VARIABLE.match(word)
        if match:
            variables[match.group(1)] = match.group(2)
        else:
            goals.append(word)
    return goals, variables


def _jobs(value: str, goals: list[str]) -> int:
    if value == "all":
        return (
            len(os.sched_getaffinity(0))
            if hasattr(os, "sched_getaffinity")
            else (os.cpu_count() or 1)
        )
    if value.isdigit() and int(value) > 0:
        return int(value)
    # `-j all` style: the word after a bare -j was a goal, not a count (make reads it so too).
    goals.insert(0, value)
    return _jobs("all", goals)


def main(argv: Sequence[str] | None = None) -> int:
    """Run minimake with ``argv``; returns make's exit status (0, 1 for -q stale, 2, 130)."""
    options = _parser().parse_args(argv)
    goals, variables = _split(options.targets)
    jobs = _jobs(options.jobs, goals)
    from minimake.errors import MinimakeError
    from minimake.ui import ConsoleReporter

    reporter = ConsoleReporter(
        silent=options.silent, quiet=options.question, verbose=options.verbose
    )
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _raise_terminated)
    try:
        if options.directory:
            try:
                os.chdir(options.directory)
            except OSError as error:
                reporter.fatal(MinimakeError(f"{options.directory}: {error.strerror}"))
                return EXIT_ERROR
            if not options.silent:
                reporter.note(f"Entering directory '{os.getcwd()}'")
        return _build(options, goals, variables, jobs, reporter)
    finally:
        if options.directory and not options.silent:
            reporter.note(f"Leaving directory '{os.getcwd()}'")


def _build(
    options: argparse.Namespace,
    goals: list[str],
    variables: dict[str, str],
    jobs: int,
    reporter: ConsoleReporter,
) -> int:
    from minimake.engine import build
    from minimake.errors import MinimakeError
    from minimake.scheduler import BuildInterrupted

    if not os.path.isfile(options.file):
        if options.file == "tasks.py" and not goals:
            reporter.fatal(MinimakeError("No targets specified and no tasks.py found."))
        else:
            reporter.fatal(MinimakeError(f"{options.file}: No such file or directory."))
        return EXIT_ERROR
    try:
        result = build(
            options.file,
            goals,
            jobs=jobs,
            dry_run=options.dry_run,
            question=options.question,
            touch=options.touch,
            always_make=options.always_make,
            keep_going=options.keep_going,
            ignore_errors=options.ignore_errors,
            what_if=options.what_if,
            old=options.old_file,
            reporter=reporter,
            variables=variables,
        )
    except MinimakeError as error:
        reporter.fatal(error)
        return EXIT_ERROR
    except BuildInterrupted:
        return EXIT_INTERRUPTED
    if not result.ok:
        return EXIT_ERROR
    if options.question and result.stale:
        return EXIT_STALE
    return EXIT_OK


if TYPE_CHECKING := False:
    from minimake.ui import ConsoleReporter
