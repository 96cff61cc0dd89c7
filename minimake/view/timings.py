"""Where a build's time went: the pure readings of a recorded Run (minimake.record) that the
timing page and the trace draw: lanes, the critical path, concurrency over time.
"""

from __future__ import annotations

import bisect
import heapq

import attrs

from minimake.record import Run, Span


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
