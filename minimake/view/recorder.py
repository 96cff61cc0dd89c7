"""The listener that records a build's timings from the engine's reporter events (the engine
runs it beside the user's reporter, in a ui.Tee)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

import attrs

from minimake.events import NullReporter
from minimake.record import Run, Span
from minimake.result import BuildResult, TaskResult

if TYPE_CHECKING:
    from minimake.task import Task
    from minimake.uptodate import Reason


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

    def started(self, task: Task, reason: Reason, lines: list[str]) -> None:
        self.starts[task.name] = self._now()

    def finished(self, task: Task, result: TaskResult, ignored: bool) -> None:
        self.ends[task.name] = self._now()
        outcome = result.outcome
        if outcome is not None and outcome.worker:  # only a Dask worker names itself
            self.workers[task.name] = outcome.worker

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
            held=task.held,
            deps=tuple(d for d in self.deps.get(name, ()) if d in known),
        )
