"""Everything minimake prints: make's messages, echoed recipes and captured output, via rich
(on a terminal; off one, plain writes that print the same). The events these reporters hear
are declared in ``minimake.events``."""

from __future__ import annotations

import errno
import functools
import os
import sys
import time
from typing import IO, TYPE_CHECKING, cast

from minimake.events import NullReporter
from minimake.words import PROGRAM, failure_text, raised_at, where

if TYPE_CHECKING:
    from collections.abc import Mapping

    from rich.console import Console
    from rich.text import Text

    from minimake.errors import MinimakeError, NoRuleError
    from minimake.result import BuildResult, TaskResult
    from minimake.task import Task
    from minimake.uptodate import Reason


def replay(result: TaskResult, out: IO[str], err: IO[str]) -> None:
    """A finished task's output, streamed from its files (or text from a remote worker), each
    part ending with a newline as make's -O block does."""
    outcome = result.outcome
    if outcome is None:
        return
    if outcome.output:
        out.write(outcome.output if outcome.output.endswith("\n") else outcome.output + "\n")
    if outcome.captured is not None:
        outcome.captured.replay(out, err)


class PlainConsole:
    """What minimake asks of a rich Console, for a stream that is no terminal, without importing
    rich (tens of milliseconds of start-up): text goes out as rich writes it there, unstyled,
    unwrapped, less the control codes rich strips (bell, backspace, vertical tab, form feed,
    carriage return)."""

    is_terminal = False
    is_dumb_terminal = False

    def __init__(self, file: IO[str]) -> None:
        self.file = file
        self.quiet = False

    def out(self, *objects: object, sep: str = " ", end: str = "\n", **_: object) -> None:
        self._write(sep.join(map(str, objects)).translate(_RICH_STRIPS) + end)

    def print(self, *objects: object, sep: str = " ", end: str = "\n", **_: object) -> None:
        # minimake prints rich Text here (whose plain text rich has stripped already).
        self._write(sep.join(str(getattr(o, "plain", o)) for o in objects) + end)

    def _write(self, text: str) -> None:
        if self.quiet:
            return
        try:
            self.file.write(text)
        except BrokenPipeError:
            self.quiet = True  # nothing more goes to it, as console() makes rich's do
            raise


_RICH_STRIPS = dict.fromkeys((7, 8, 11, 12, 13))
# Set, these make rich treat a stream that is no tty as a terminal: rich then decides.
_RICH_SWITCHES = ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE")


def console(file: IO[str]) -> Console:
    """A console on ``file``: off a terminal a PlainConsole, so that a run that draws nothing
    never imports rich; else a rich one. Either lets a closed pipe raise BrokenPipeError, where
    rich would exit with status 1: the build stops as make does on SIGPIPE (cli decides how)."""
    isatty = getattr(file, "isatty", None)
    try:
        terminal = bool(isatty and isatty())
    except ValueError:  # closed
        terminal = False
    if not (terminal or any(name in os.environ for name in _RICH_SWITCHES)):
        return cast("Console", PlainConsole(file))
    return _rich_console()(file=file, highlight=False, soft_wrap=True)


@functools.cache
def _rich_console() -> type[Console]:
    """rich's Console, less its exit on a closed pipe (the class is made once rich is needed)."""
    from rich.console import Console

    class ClosablePipeConsole(Console):
        def on_broken_pipe(self) -> None:
            self.quiet = True  # nothing more goes to it, whatever is still to be said
            raise BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE))

    return ClosablePipeConsole


def is_plain(console: Console) -> bool:
    """Whether ``console`` is off a terminal, so that a line is its plain text. rich asks the
    file each time: a reporter asks once, for the lines of a whole build."""
    return not console.is_terminal


def write_line(console: Console, text: str | Text, plain: bool | None = None) -> None:
    """One line on ``console``; ``plain``: is_plain(console), when the caller knows it. Off a
    terminal rich would only strip styles, at a quarter of a millisecond a line, which is most
    of a 10,000-task ``-n``: write the plain text at once."""
    if is_plain(console) if plain is None else plain:
        console.file.write((text if isinstance(text, str) else text.plain) + "\n")
    elif isinstance(text, str):
        console.out(text, highlight=False)
    else:
        console.print(text, soft_wrap=True)


class ConsoleReporter(NullReporter):
    """make's output on two rich consoles: recipes and their output on stdout, errors on stderr.

    ``silent`` (-s) drops the echo and the "up to date" lines, but for ``show_silenced``
    (``-n``, whose commands make prints even under -s); ``quiet`` (-q) prints no more than
    errors; ``verbose`` adds a Python recipe's traceback. ``fatal`` and ``note`` are no
    engine events: the command line calls them for what it says itself.
    """

    def __init__(
        self,
        out: Console | None = None,
        err: Console | None = None,
        *,
        silent: bool = False,
        quiet: bool = False,
        verbose: bool = False,
        show_silenced: bool = False,
    ) -> None:
        self.out = out or console(sys.stdout)
        self.err = err or console(sys.stderr)
        self.silent, self.quiet, self.verbose = silent or quiet, quiet, verbose
        self._echo = not self.silent or (show_silenced and not quiet)
        self._plain_out, self._plain_err = is_plain(self.out), is_plain(self.err)
        self._through: dict[str, str] = {}  # reached(): make's $@ of multi-target tasks

    def _say(self, text: str) -> None:
        write_line(self.out, text, self._plain_out)

    def _complain(self, text: str) -> None:
        write_line(self.err, text, self._plain_err)

    def reached(self, through: Mapping[str, str]) -> None:
        self._through = dict(through)

    def _where(self, task: Task) -> str:
        return where(task, self._through.get(task.name))

    def started(self, task: Task, reason: Reason, lines: list[str]) -> None:
        if self._echo:
            for line in lines:
                self._say(line)

    def finished(self, task: Task, result: TaskResult, ignored: bool) -> None:
        if not self.quiet:
            replay(result, self.out.file, self.err.file)
        for line in self.complaints(task, result, ignored):
            self._complain(line)

    def retrying(self, task: Task, result: TaskResult, attempts: int) -> None:
        if not self.quiet:
            replay(result, self.out.file, self.err.file)
        for line in self.complaints(task, result, False, attempts):
            self._complain(line)

    def complaints(
        self, task: Task, result: TaskResult, ignored: bool, retrying: int | None = None
    ) -> list[str]:
        """What ``finished`` says on stderr after the output: make's error line, and where a
        Python recipe raised. ``retrying``: the attempts the task may have in all, when this
        failed attempt is run again; it says so in make's "(ignored)" style."""
        outcome = result.outcome
        if outcome is None or outcome.ok:
            return []
        text = failure_text(result)
        if ignored:
            return [] if outcome.reported else [f"{PROGRAM}: {self._where(task)} {text} (ignored)"]
        if retrying is not None:
            again = f"attempt {result.attempts} of {retrying}; trying again"
            complaints = [f"{PROGRAM}: {self._where(task)} {text} ({again})"]
        elif result.attempts > 1:
            after = f"after {result.attempts} attempts"
            complaints = [f"{PROGRAM}: *** {self._where(task)} {text} ({after})"]
        else:
            complaints = [f"{PROGRAM}: *** {self._where(task)} {text}"]
        if outcome.traceback and self.verbose:
            complaints.append(outcome.traceback.rstrip())
        elif outcome.traceback:
            place = raised_at(task, outcome.traceback)
            if place:
                complaints.append(f"{PROGRAM}: raised at {place}")
        return complaints

    def missing(self, error: NoRuleError) -> None:
        self._complain(f"{PROGRAM}: *** {error}")

    def deleting(self, path: str) -> None:
        # make names the target its recipe ran for when it deletes another of the group.
        through = self._through.get(path, path)
        on_behalf = f"[{through}] " if through != path else ""
        self._complain(f"{PROGRAM}: *** {on_behalf}Deleting file '{path}'")

    def waiting(self) -> None:
        self._complain(f"{PROGRAM}: *** Waiting for unfinished jobs....")

    def interrupted(self, task: Task) -> None:
        self._complain(f"{PROGRAM}: *** {self._where(task)} Interrupt")

    def goal_done(self, goal: str, result: BuildResult, phony_or_no_recipe: bool) -> None:
        if self.silent:
            return
        if phony_or_no_recipe:
            self._say(f"{PROGRAM}: Nothing to be done for '{goal}'.")
        else:
            self._say(f"{PROGRAM}: '{goal}' is up to date.")

    def not_remade(self, goal: str) -> None:
        self._complain(f"{PROGRAM}: Target '{goal}' not remade because of errors.")

    def fatal(self, error: MinimakeError) -> None:
        stop = "  Stop." if error.fatal else ""
        self._complain(f"{PROGRAM}: *** {error}{stop}")
        if error.hint:
            self._complain(f"{PROGRAM}: {error.hint}")

    def note(self, text: str) -> None:
        if not self.silent:
            self._say(f"{PROGRAM}: {text}")

    def not_known_yet(self, text: str) -> None:
        """What -n cannot know yet: an expand_after generator's tasks."""
        self.note(text)

    def warning(self, text: str) -> None:
        """make's warnings (a stat error, a file from the future): on stderr, even under -s."""
        self._complain(f"{PROGRAM}: {text}")

    def waiting_for_lock(self, pid: int | None, since: float | None) -> None:
        who = f"pid {pid}" if pid is not None else "another process"
        when = f" (since {time.strftime('%H:%M:%S', time.localtime(since))})" if since else ""
        self._complain(f"{PROGRAM}: waiting for the build running as {who}{when}")
