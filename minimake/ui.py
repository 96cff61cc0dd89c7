"""Everything minimake prints: make's messages, echoed recipes and captured output, via rich."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from rich.console import Console

    from minimake.errors import MinimakeError, NoRuleError
    from minimake.result import BuildResult, TaskResult
    from minimake.task import Task

PROGRAM = "minimake"


class Reporter(Protocol):
    """What the engine tells its user; the engine prints nothing else."""

    def started(self, task: Task, reason: str, lines: list[str]) -> None: ...
    def finished(self, task: Task, result: TaskResult, ignored: bool) -> None: ...
    def missing(self, error: NoRuleError) -> None: ...
    def deleting(self, path: str) -> None: ...
    def waiting(self) -> None: ...
    def interrupted(self, task: Task) -> None: ...
    def goal_done(self, goal: str, result: BuildResult, phony_or_no_recipe: bool) -> None: ...
    def not_remade(self, goal: str) -> None: ...
    def fatal(self, error: MinimakeError) -> None: ...
    def note(self, text: str) -> None: ...


def where(task: Task) -> str:
    """make's bracketed "[tasks.py:14: target]"."""
    return f"[{task.location}: {task.name}]" if task.location else f"[{task.name}]"


def failure_text(result: TaskResult) -> str:
    """How a failed recipe ended, in make's words: "Error 2", "Killed", "ValueError: bad"."""
    from minimake.recipes import signal_name

    outcome = result.outcome
    if outcome is None:
        return result.error or "Error"
    if outcome.crashed:
        text = outcome.error or "worker process died"
        return text[:1].upper() + text[1:]
    if outcome.signal is not None:
        return signal_name(outcome.signal)
    if outcome.returncode is not None:
        return f"Error {outcome.returncode}"
    return outcome.error or "Error"


class ConsoleReporter:
    """make's output on two rich consoles: recipes and their output on stdout, errors on stderr.

    ``silent`` (-s) drops the echo and the "up to date" lines; ``quiet`` (-q) prints no more
    than errors; ``verbose`` adds a Python recipe's traceback.
    """

    def __init__(
        self,
        out: Console | None = None,
        err: Console | None = None,
        *,
        silent: bool = False,
        quiet: bool = False,
        verbose: bool = False,
    ) -> None:
        from rich.console import Console

        self.out = out or Console(file=sys.stdout, highlight=False, soft_wrap=True)
        self.err = err or Console(file=sys.stderr, highlight=False, soft_wrap=True)
        self.silent, self.quiet, self.verbose = silent or quiet, quiet, verbose

    def _say(self, text: str) -> None:
        self.out.out(text, highlight=False)

    def _complain(self, text: str) -> None:
        self.err.out(text, highlight=False)

    def started(self, task: Task, reason: str, lines: list[str]) -> None:
        if not self.silent:
            for line in lines:
                self._say(line)

    def finished(self, task: Task, result: TaskResult, ignored: bool) -> None:
        outcome = result.outcome
        if outcome is not None and outcome.output and not self.quiet:
            self.out.out(outcome.output, end="" if outcome.output.endswith("\n") else "\n")
        if outcome is None or outcome.ok:
            return
        text = failure_text(result)
        if ignored:
            self._complain(f"{PROGRAM}: {where(task)} {text} (ignored)")
            return
        self._complain(f"{PROGRAM}: *** {where(task)} {text}")
        if outcome.traceback and self.verbose:
            self._complain(outcome.traceback.rstrip())

    def missing(self, error: NoRuleError) -> None:
        self._complain(f"{PROGRAM}: *** {error}")

    def deleting(self, path: str) -> None:
        self._complain(f"{PROGRAM}: *** Deleting file '{path}'")

    def waiting(self) -> None:
        self._complain(f"{PROGRAM}: *** Waiting for unfinished jobs....")

    def interrupted(self, task: Task) -> None:
        self._complain(f"{PROGRAM}: *** {where(task)} Interrupt")

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
        hint = getattr(error, "hint", None)
        if hint:
            self._complain(f"{PROGRAM}: {hint}")

    def note(self, text: str) -> None:
        if not self.silent:
            self._say(f"{PROGRAM}: {text}")


class NullReporter:
    """Prints nothing: for API users who only want the result value."""

    def started(self, task: Task, reason: str, lines: list[str]) -> None: ...
    def finished(self, task: Task, result: TaskResult, ignored: bool) -> None: ...
    def missing(self, error: NoRuleError) -> None: ...
    def deleting(self, path: str) -> None: ...
    def waiting(self) -> None: ...
    def interrupted(self, task: Task) -> None: ...
    def goal_done(self, goal: str, result: BuildResult, phony_or_no_recipe: bool) -> None: ...
    def not_remade(self, goal: str) -> None: ...
    def fatal(self, error: MinimakeError) -> None: ...
    def note(self, text: str) -> None: ...
