"""Where a build's time went: a frozen record of when each task ran, taken from the engine's
reporter events by a listener beside the user's reporter, and the pure readings of it that the
timing page and the trace draw (lanes, the critical path, concurrency over time).
"""

from __future__ import annotations

import bisect
import heapq
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

import attrs

from minimake.result import BuildResult, Status, TaskResult

if TYPE_CHECKING:
    from minimake.errors import MinimakeError, NoRuleError
    from minimake.task import Task
    from minimake.ui import Reporter


@attrs.frozen
class Span:
    """One task in a recorded run; times are seconds after the build began.

    A task that started no recipe (up to date, skipped, an alias) has ``start == end``, the
    moment it was decided. ``ready`` is when the last of its deps in this build was decided:
    from then on only ``-j`` (or a resource) kept it from starting.
    """

    name: str
    status: Status
    start: float
    end: float
    ready: float = 0.0
    ran: bool = False  # a recipe was started: the task has a bar
    has_recipe: bool = True  # False for an alias, which make's counts leave out
    reason: str | None = None
    returncode: int | None = None
    signal: int | None = None
    error: str | None = None
    worker: str | None = None  # the Dask worker that ran it
    deps: tuple[str, ...] = ()  # the tasks of this build it waited for

    @property
    def seconds(self) -> float:
        return self.end - self.start

    @property
    def waited(self) -> float:
        """How long it was ready but not started."""
        return max(self.start - self.ready, 0.0) if self.ran else 0.0

    @property
    def failed(self) -> bool:
        """Its recipe failed, whether or not -i ignored it."""
        return self.status is Status.FAILED or self.returncode not in (None, 0) or bool(self.error)


@attrs.frozen
class Run:
    """A recorded build: what it was asked and every selected task's span, in decision order."""

    goals: tuple[str, ...]
    jobs: int
    executor: str
    began: datetime  # the wall-clock moment the build began, for the page and its file name
    seconds: float  # wall time, from the first decision to the summary
    spans: tuple[Span, ...]
    interrupted: bool = False

    @property
    def task_seconds(self) -> float:
        return sum(span.seconds for span in self.spans if span.ran)

    def by_name(self) -> dict[str, Span]:
        return {span.name: span for span in self.spans}


def lanes(run: Run) -> tuple[tuple[str, ...], dict[str, int]]:
    """The lanes (slots) the bars go on, and each task's lane.

    Local executors do not say which slot ran a recipe, so slots are assigned afterwards by
    greedy interval colouring in start order: a task goes on the lowest lane free when it
    started, which needs no more lanes than recipes ever ran at once (at most ``-j``). On Dask,
    a worker's tasks go on that worker's lanes (one per task it ran at once).
    """
    groups: dict[str, list[Span]] = {}
    for span in sorted((s for s in run.spans if s.ran), key=lambda s: (s.start, s.end, s.name)):
        groups.setdefault(span.worker or "", []).append(span)
    labels: list[str] = []
    lane_of: dict[str, int] = {}
    for worker in sorted(groups):
        free: list[tuple[float, int]] = []  # (free from, lane) heap of this group's lanes
        idle: list[int] = []  # lanes free now, lowest first
        count = 0
        for span in groups[worker]:
            while free and free[0][0] <= span.start:
                heapq.heappush(idle, heapq.heappop(free)[1])
            if idle:
                lane = heapq.heappop(idle)
            else:
                lane, count = count, count + 1
            heapq.heappush(free, (span.end, lane))
            lane_of[span.name] = len(labels) + lane
        first = len(labels)
        for index in range(count):
            if worker:
                named = f"worker {worker}" if worker.isdigit() else worker  # LocalCluster's
                labels.append(named if count == 1 else f"{named} #{index + 1}")
            else:
                labels.append(f"slot {first + index + 1}")
    return tuple(labels), lane_of


def critical_path(run: Run) -> tuple[str, ...]:
    """The chain of tasks that set the wall time, first to last.

    It ends with the recipe that finished last and walks back, at each task, to what it was
    waiting for when it started: the dep decided last (which made it ready), or, when it was
    ready earlier and waited for a slot (or a resource), the recipe whose end freed one. Tasks
    without a recipe on the way (aliases, up to date ones) are passed through, not listed.
    """
    spans = run.by_name()
    ran = sorted((span for span in run.spans if span.ran), key=lambda span: span.end)
    if not ran:
        return ()
    ends = [span.end for span in ran]
    current: Span | None = ran[-1]
    chain: list[str] = []
    seen: set[str] = set()
    while current is not None and current.name not in seen:
        seen.add(current.name)
        if current.ran:
            chain.append(current.name)
        deps = [spans[dep] for dep in current.deps if dep in spans]
        before = current
        current = max(deps, key=lambda span: span.end) if deps else None
        if before.ran:
            # The last recipe to end before this one started, itself aside.
            index = bisect.bisect_right(ends, before.start) - 1
            while index >= 0 and ran[index].name == before.name:
                index -= 1
            freed = ran[index] if index >= 0 else None
            if freed is not None and freed.end > before.ready:
                current = freed
    return tuple(reversed(chain))


@attrs.frozen
class Step:
    """From ``time`` on (until the next step): recipes running, and tasks ready but waiting."""

    time: float
    running: float  # a count, or its mean over a slice of time when the chart averages
    waiting: float


def concurrency(run: Run) -> tuple[Step, ...]:
    """Running recipes against ready-but-waiting ones over time, as steps (one per moment
    something changed): where ``waiting`` stays above zero, more slots would have helped."""
    changes: dict[float, list[int]] = {}
    for span in run.spans:
        if not span.ran:
            continue
        changes.setdefault(span.start, [0, 0])[0] += 1
        changes.setdefault(span.end, [0, 0])[0] -= 1
        if span.start > span.ready:
            changes.setdefault(span.ready, [0, 0])[1] += 1
            changes[span.start][1] -= 1
    steps: list[Step] = []
    running = waiting = 0
    for moment in sorted(changes):
        running += changes[moment][0]
        waiting += changes[moment][1]
        steps.append(Step(moment, running, waiting))
    return tuple(steps)


class Recorder:
    """A reporter that only notes when things happened, to make a Run at the summary.

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

    def begin(self, total: int, jobs: int) -> None:
        self.jobs, self.origin, self.began = jobs, self.clock(), self.now()

    def started(self, task: Task, reason: str, lines: list[str]) -> None:
        self.starts[task.name] = self._now()

    def finished(self, task: Task, result: TaskResult, ignored: bool) -> None:
        self.ends[task.name] = self._now()
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

    def missing(self, error: NoRuleError) -> None: ...
    def deleting(self, path: str) -> None: ...
    def waiting(self) -> None: ...
    def goal_done(self, goal: str, result: BuildResult, phony_or_no_recipe: bool) -> None: ...
    def not_remade(self, goal: str) -> None: ...
    def fatal(self, error: MinimakeError) -> None: ...
    def note(self, text: str) -> None: ...


class Tee:
    """A reporter that passes every event on to several, in the order given."""

    def __init__(self, *reporters: Reporter) -> None:
        self.reporters = reporters

    def begin(self, total: int, jobs: int) -> None:
        for reporter in self.reporters:
            reporter.begin(total, jobs)

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

    def recorded(self, result: TaskResult) -> None:
        for reporter in self.reporters:
            reporter.recorded(result)

    def summary(self, result: BuildResult) -> None:
        for reporter in self.reporters:
            reporter.summary(result)
