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
    after an interrupt). A failed attempt that is run again (``retries``) is ``retrying``
    instead of ``finished``, then ``started`` again. What the command line says itself (a
    fatal error, "Entering directory", a listing) is no event: it holds its own reporter for
    that.
    """

    def reached(self, through: Mapping[str, str]) -> None:
        """Before ``begin``: for each target of a task with several, the target the build
        reaches that task through (make's ``$@``), which make's messages about the task name,
        and its deletion of the task's other targets."""

    def begin(self, total: int, jobs: int, expected: Mapping[str, float] | None = None) -> None: ...
    def started(self, task: Task, reason: Reason, lines: list[str]) -> None: ...
    def finished(self, task: Task, result: TaskResult, ignored: bool) -> None: ...
    def retrying(self, task: Task, result: TaskResult, attempts: int) -> None:
        """Attempt ``result.attempts`` of ``attempts`` failed as ``result`` says; it runs again."""

    def missing(self, error: NoRuleError) -> None: ...
    def deleting(self, path: str) -> None: ...
    def waiting(self) -> None: ...
    def interrupted(self, task: Task) -> None: ...
    def goal_done(self, goal: str, result: BuildResult, phony_or_no_recipe: bool) -> None: ...
    def not_remade(self, goal: str) -> None: ...
    def warning(self, text: str) -> None: ...
    def grew(self, tasks: int) -> None:
        """``tasks`` more tasks with a recipe joined the build (an expand_after generator)."""

    def not_known_yet(self, text: str) -> None:
        """What -n cannot know yet (an expand_after generator's tasks): a line of make's own
        on stdout, without the prefix."""

    def waiting_for_lock(self, pid: int | None, since: float | None) -> None: ...
    def recorded(self, result: TaskResult) -> None: ...
    def summary(self, result: BuildResult) -> None: ...


class NullReporter:
    """Hears every event and prints nothing: for API users who only want the result value, and
    the base of every reporter, which overrides the events it shows."""

    def reached(self, through: Mapping[str, str]) -> None: ...
    def begin(self, total: int, jobs: int, expected: Mapping[str, float] | None = None) -> None: ...
    def started(self, task: Task, reason: Reason, lines: list[str]) -> None: ...
    def finished(self, task: Task, result: TaskResult, ignored: bool) -> None: ...
    def retrying(self, task: Task, result: TaskResult, attempts: int) -> None: ...
    def missing(self, error: NoRuleError) -> None: ...
    def deleting(self, path: str) -> None: ...
    def waiting(self) -> None: ...
    def interrupted(self, task: Task) -> None: ...
    def goal_done(self, goal: str, result: BuildResult, phony_or_no_recipe: bool) -> None: ...
    def not_remade(self, goal: str) -> None: ...
    def warning(self, text: str) -> None: ...
    def not_known_yet(self, text: str) -> None: ...
    def grew(self, tasks: int) -> None: ...
    def waiting_for_lock(self, pid: int | None, since: float | None) -> None: ...
    def recorded(self, result: TaskResult) -> None: ...
    def summary(self, result: BuildResult) -> None: ...


class Tee(NullReporter):
    """A reporter made of others: every event goes to each part, in the order given (the
    command line's make's lines, progress and report; a timing recorder beside a reporter)."""

    def __init__(self, *parts: Reporter) -> None:
        self.parts = parts
        # The events that come once per task go only to the parts that hear them, not to
        # NullReporter's no-ops.
        self._starting = _hearing(parts, "started")
        self._finishing = _hearing(parts, "finished")
        self._recording = _hearing(parts, "recorded")

    def reached(self, through: Mapping[str, str]) -> None:
        for part in self.parts:
            part.reached(through)

    def begin(self, total: int, jobs: int, expected: Mapping[str, float] | None = None) -> None:
        for part in self.parts:
            part.begin(total, jobs, expected)

    def started(self, task: Task, reason: Reason, lines: list[str]) -> None:
        for part in self._starting:
            part.started(task, reason, lines)

    def finished(self, task: Task, result: TaskResult, ignored: bool) -> None:
        for part in self._finishing:
            part.finished(task, result, ignored)

    def retrying(self, task: Task, result: TaskResult, attempts: int) -> None:
        for part in self.parts:
            part.retrying(task, result, attempts)

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

    def not_known_yet(self, text: str) -> None:
        for part in self.parts:
            part.not_known_yet(text)

    def grew(self, tasks: int) -> None:
        for part in self.parts:
            part.grew(tasks)

    def waiting_for_lock(self, pid: int | None, since: float | None) -> None:
        for part in self.parts:
            part.waiting_for_lock(pid, since)

    def recorded(self, result: TaskResult) -> None:
        for part in self._recording:
            part.recorded(result)

    def summary(self, result: BuildResult) -> None:
        for part in self.parts:
            part.summary(result)


def _hearing(parts: tuple[Reporter, ...], event: str) -> tuple[Reporter, ...]:
    """The parts whose class does something with ``event``."""
    unheard = getattr(NullReporter, event)
    return tuple(part for part in parts if getattr(type(part), event, None) is not unheard)
