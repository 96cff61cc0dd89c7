"""What the engine tells its user: the Reporter protocol (the engine prints nothing else), the
NullReporter that hears every event and that every reporter extends, and the Tee that composes
reporters. The reporters that print live in ``minimake.view``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from minimake.errors import NoRuleError
    from minimake.result import BuildResult, TaskResult
    from minimake.task import Task
    from minimake.uptodate import Reason


class Reporter(Protocol):
    """What the engine tells its user; the engine prints nothing else.

    A build calls ``begin`` once, then per task ``started`` and ``finished`` when its recipe
    runs and ``recorded`` with every task's result, then ``summary`` once at the end (also
    after an interrupt). What the command line says itself (a fatal error, "Entering
    directory", a listing) is no event: it holds its own reporter for that.
    """

    def begin(self, total: int, jobs: int, expected: Mapping[str, float] | None = None) -> None: ...
    def started(self, task: Task, reason: Reason, lines: list[str]) -> None: ...
    def finished(self, task: Task, result: TaskResult, ignored: bool) -> None: ...
    def missing(self, error: NoRuleError) -> None: ...
    def deleting(self, path: str) -> None: ...
    def waiting(self) -> None: ...
    def interrupted(self, task: Task) -> None: ...
    def goal_done(self, goal: str, result: BuildResult, phony_or_no_recipe: bool) -> None: ...
    def not_remade(self, goal: str) -> None: ...
    def warning(self, text: str) -> None: ...
    def waiting_for_lock(self, pid: int | None, since: float | None) -> None: ...
    def recorded(self, result: TaskResult) -> None: ...
    def summary(self, result: BuildResult) -> None: ...


class NullReporter:
    """Hears every event and prints nothing: for API users who only want the result value, and
    the base of every reporter, which overrides the events it shows."""

    def begin(self, total: int, jobs: int, expected: Mapping[str, float] | None = None) -> None: ...
    def started(self, task: Task, reason: Reason, lines: list[str]) -> None: ...
    def finished(self, task: Task, result: TaskResult, ignored: bool) -> None: ...
    def missing(self, error: NoRuleError) -> None: ...
    def deleting(self, path: str) -> None: ...
    def waiting(self) -> None: ...
    def interrupted(self, task: Task) -> None: ...
    def goal_done(self, goal: str, result: BuildResult, phony_or_no_recipe: bool) -> None: ...
    def not_remade(self, goal: str) -> None: ...
    def warning(self, text: str) -> None: ...
    def waiting_for_lock(self, pid: int | None, since: float | None) -> None: ...
    def recorded(self, result: TaskResult) -> None: ...
    def summary(self, result: BuildResult) -> None: ...


class Tee(NullReporter):
    """A reporter made of others: every event goes to each part, in the order given (the
    command line's make's lines, progress and report; a timing recorder beside a reporter)."""

    def __init__(self, *parts: Reporter) -> None:
        self.parts = parts
        # recorded() comes once per task: only to the parts that hear it (not NullReporter's).
        self._recording = tuple(
            part for part in parts if getattr(type(part), "recorded", None) is not _UNHEARD
        )

    def begin(self, total: int, jobs: int, expected: Mapping[str, float] | None = None) -> None:
        for part in self.parts:
            part.begin(total, jobs, expected)

    def started(self, task: Task, reason: Reason, lines: list[str]) -> None:
        for part in self.parts:
            part.started(task, reason, lines)

    def finished(self, task: Task, result: TaskResult, ignored: bool) -> None:
        for part in self.parts:
            part.finished(task, result, ignored)

    def missing(self, error: NoRuleError) -> None:
        for part in self.parts:
            part.missing(error)

    def deleting(self, path: str) -> None:
        for part in self.parts:
            part.deleting(path)

    def waiting(self) -> None:
        for part in self.parts:
            part.waiting()

    def interrupted(self, task: Task) -> None:
        for part in self.parts:
            part.interrupted(task)

    def goal_done(self, goal: str, result: BuildResult, phony_or_no_recipe: bool) -> None:
        for part in self.parts:
            part.goal_done(goal, result, phony_or_no_recipe)

    def not_remade(self, goal: str) -> None:
        for part in self.parts:
            part.not_remade(goal)

    def warning(self, text: str) -> None:
        for part in self.parts:
            part.warning(text)

    def waiting_for_lock(self, pid: int | None, since: float | None) -> None:
        for part in self.parts:
            part.waiting_for_lock(pid, since)

    def recorded(self, result: TaskResult) -> None:
        for part in self._recording:
            part.recorded(result)

    def summary(self, result: BuildResult) -> None:
        for part in self.parts:
            part.summary(result)


_UNHEARD = NullReporter.recorded
