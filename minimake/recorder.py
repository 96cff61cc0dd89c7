"""The listener that records a build's timings from the engine's reporter events, and the Tee
that runs it beside the user's reporter (the engine prints only through one reporter)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

import attrs

from minimake.result import BuildResult, TaskResult
from minimake.timings import Run, Span
from minimake.ui import NullReporter

if TYPE_CHECKING:
    from minimake.errors import MinimakeError, NoRuleError
    from minimake.task import Task
    from minimake.ui import Reporter


class Recorder(NullReporter):
    """A reporter that only notes when things happened, to make a Run at the summary (every
    other event is NullReporter's nothing).

    ``deps`` maps each selected task to the selected tasks it needs; ``clock`` (seconds,
    monotonic) and ``now`` (the wall clock) are injected so tests can use fake ones.
    """

    def __init__(
        self,
        deps: Mapping[str, Sequence[str]],
        executor: str,
        clock: Callable[[], float] = time.perf_counter,
        now: Callable[[], datetime] = datetime.now,
    ) -> None:
        self.deps, self.executor, self.clock, self.now = deps, executor, clock, now
        self.jobs = 1
        self.origin = clock()
        self.began = now()
        self.starts: dict[str, float] = {}
        self.ends: dict[str, float] = {}
        self.decided: dict[str, float] = {}
        self.workers: dict[str, str] = {}
        self.run: Run | None = None

    def _now(self) -> float:
        return self.clock() - self.origin

    def begin(self, total: int, jobs: int, expected: Mapping[str, float] | None = None) -> None:
        self.jobs, self.origin, self.began = jobs, self.clock(), self.now()

    def started(self, task: Task, reason: str, lines: list[str]) -> None:
        self.starts[task.name] = self._now()

    def finished(self, task: Task, result: TaskResult, ignored: bool) -> None:
        self.ends[task.name] = self._now()
        # Only a Dask worker names itself; read leniently, as an Outcome from elsewhere may not.
        worker = getattr(result.outcome, "worker", None)
        if worker:
            self.workers[task.name] = str(worker)

    def interrupted(self, task: Task) -> None:
        self.ends.setdefault(task.name, self._now())

    def recorded(self, result: TaskResult) -> None:
        self.decided[result.name] = self._now()

    def summary(self, result: BuildResult) -> None:
        self.run = self.make_run(result, self._now())

    def make_run(self, result: BuildResult, wall: float) -> Run:
        """The Run of ``result``, as recorded so far; ``wall`` is when it ended."""
        spans = [self._span(task, wall, result.tasks) for task in result.tasks.values()]
        decided = {span.name: span.end for span in spans}
        spans = [
            attrs.evolve(span, ready=max((decided[d] for d in span.deps), default=0.0))
            for span in spans
        ]
        return Run(
            goals=result.goals,
            jobs=self.jobs,
            executor=self.executor,
            began=self.began,
            seconds=wall,
            spans=tuple(spans),
            interrupted=result.interrupted,
        )

    def _span(self, task: TaskResult, wall: float, known: Mapping[str, object]) -> Span:
        name = task.name
        start = self.starts.get(name)
        ran = start is not None
        # Never decided (the build stopped first): it happened, if at all, at the end.
        end = self.ends.get(name, self.decided.get(name, wall))
        if start is None:
            start = end
        outcome = task.outcome
        return Span(
            name=name,
            status=task.status,
            start=start,
            end=max(end, start),
            ran=ran,
            has_recipe=task.has_recipe,
            reason=str(task.reason) if task.reason is not None else None,
            returncode=outcome.returncode if outcome else None,
            signal=outcome.signal if outcome else None,
            error=(outcome.error if outcome else None) or task.error,
            worker=self.workers.get(name),
            deps=tuple(d for d in self.deps.get(name, ()) if d in known),
        )



class Tee:
    """A reporter that passes every event on to several, in the order given."""

    def __init__(self, *reporters: Reporter) -> None:
        self.reporters = reporters

    def begin(self, total: int, jobs: int, expected: Mapping[str, float] | None = None) -> None:
        for reporter in self.reporters:
            reporter.begin(total, jobs, expected)

    def started(self, task: Task, reason: str, lines: list[str]) -> None:
        for reporter in self.reporters:
            reporter.started(task, reason, lines)

    def finished(self, task: Task, result: TaskResult, ignored: bool) -> None:
        for reporter in self.reporters:
            reporter.finished(task, result, ignored)

    def missing(self, error: NoRuleError) -> None:
        for reporter in self.reporters:
            reporter.missing(error)

    def deleting(self, path: str) -> None:
        for reporter in self.reporters:
            reporter.deleting(path)

    def waiting(self) -> None:
        for reporter in self.reporters:
            reporter.waiting()

    def interrupted(self, task: Task) -> None:
        for reporter in self.reporters:
            reporter.interrupted(task)

    def goal_done(self, goal: str, result: BuildResult, phony_or_no_recipe: bool) -> None:
        for reporter in self.reporters:
            reporter.goal_done(goal, result, phony_or_no_recipe)

    def not_remade(self, goal: str) -> None:
        for reporter in self.reporters:
            reporter.not_remade(goal)

    def fatal(self, error: MinimakeError) -> None:
        for reporter in self.reporters:
            reporter.fatal(error)

    def note(self, text: str) -> None:
        for reporter in self.reporters:
            reporter.note(text)

    def warning(self, text: str) -> None:
        for reporter in self.reporters:
            reporter.warning(text)

    def waiting_for_lock(self, pid: int | None, since: float | None) -> None:
        for reporter in self.reporters:
            reporter.waiting_for_lock(pid, since)

    def recorded(self, result: TaskResult) -> None:
        for reporter in self.reporters:
            reporter.recorded(result)

    def summary(self, result: BuildResult) -> None:
        for reporter in self.reporters:
            reporter.summary(result)
