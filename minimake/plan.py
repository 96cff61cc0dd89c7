"""What can start now: the bookkeeping of deps and resources over the selected graph
(ninja's Plan, which keeps its Pools)."""

from __future__ import annotations

import heapq
import operator
from collections import deque
from collections.abc import Mapping

from minimake.graph import Graph
from minimake.resources import Amounts, Held, Limit, Units, size

# A task's state in Plan._waiting beside its count of deps not yet done (graphlib's sentinels).
_OUT = -1  # handed out by pop(), not yet done
_DONE = -2


class Plan:
    """Hands out tasks whose deps are all done, most urgent first.

    Every task handed out must be reported ``done`` exactly once, whether it ran, was up to
    date, failed or was skipped, so that the plan always drains. A task the caller decides to
    run takes what it asks for of the limited resources with ``reserve`` first; when that is
    not free, the plan keeps it and ``pop`` hands it out again once done tasks give back enough.
    A resource limited by names (``gpu=0,1``) hands each such task its own names (``held``),
    which no other task holds until it is done.
    """

    def __init__(
        self,
        graph: Graph,
        selected: set[str],
        priority: dict[str, float] | None,
        limits: Mapping[str, Limit] | None = None,
        order: Mapping[str, int] | None = None,
    ) -> None:
        self._tasks = graph.tasks
        self._order = graph.order
        self._dependents = graph.dependents()
        self._waiting = graph.needed_counts(selected)
        # The heap holds each task's rank among all, most urgent first and then in ``order``
        # (make's, from graph.make_order; else declaration order): one sort of the whole
        # selection, after which the heap compares ints, not the (priority, order) tuples it
        # compared 30 times per pop of a 50,000-task scatter. No priority (one job): ``order``,
        # which numbers the selection from 0, is the rank itself, and nothing is sorted.
        if priority is None:
            assert order is not None  # make_order's, which numbers every selected task
            self._names, self._rank = list(order), dict(order)
        else:
            tie = (order or self._order).__getitem__
            urgency = map(operator.neg, priority.values())
            keys = zip(urgency, map(tie, priority), priority, strict=True)
            self._names = [name for _, _, name in sorted(keys)]
            self._rank = {name: rank for rank, name in enumerate(self._names)}
        self._ready: list[int] = []
        self._left = len(selected)
        self._pool = _Pool(limits or {})
        # What each reserved task holds until done, and the names among it.
        self._holding: dict[str, tuple[Amounts, Held]] = {}
        for name, count in self._waiting.items():
            if count == 0:
                self._push(name)

    def _push(self, name: str) -> None:
        heapq.heappush(self._ready, self._rank[name])

    def has_ready(self) -> bool:
        """Whether a task can be handed out now."""
        return bool(self._ready)

    def pop(self) -> str:
        """The most urgent task whose deps are done: new, or holding the resources it waited for."""
        name = self._names[heapq.heappop(self._ready)]
        self._waiting[name] = _OUT
        return name

    def reserve(self, name: str) -> bool:
        """Take what the handed-out ``name`` asks for of the limited resources, to run it now.

        False when that is not free: the plan keeps ``name`` and ``pop`` hands it out again,
        already holding its share, once done tasks give back enough. Only a task that will
        really run reserves: one up to date or skipped never waits for a resource.
        """
        request = self._pool.counted(self._tasks[name].resources)
        if not request:
            return True
        held = self._pool.take(name, request)
        if held is None:
            return False
        self._holding[name] = (request, held)
        return True

    def held(self, name: str) -> Held:
        """The names that the reserved ``name`` holds, per resource limited by names."""
        holding = self._holding.get(name) if self._holding else None
        return holding[1] if holding is not None else ()

    def done(self, name: str) -> None:
        """Mark ``name`` finished: give back what it held, and release the tasks that waited
        for it or for that.

        Raises ValueError for a task done twice or never handed out (as graphlib does).
        """
        waiting = self._waiting  # holds the selected tasks alone
        state = waiting.get(name)
        if state != _OUT:
            problem = "was already done" if state == _DONE else "was not handed out by pop()"
            raise ValueError(f"task '{name}' {problem}")
        waiting[name] = _DONE
        self._left -= 1
        holding = self._holding.pop(name, None) if self._holding else None
        if holding:
            for admitted, request, names in self._pool.give_back(*holding):
                self._holding[admitted] = (request, names)
                self._push(admitted)
        for dependent in self._dependents[name]:
            count = waiting.get(dependent)
            if count is not None:  # None: not selected
                waiting[dependent] = count - 1
                if count == 1:
                    self._push(dependent)

    def extend(self, graph: Graph, added: set[str], priority: Mapping[str, float] | None) -> None:
        """Take ``graph``, which holds the tasks ``added`` beside the ones the plan holds (an
        expand_after generator declared them), and plan them too, after the tasks already
        ranked (by ``priority``, then declaration order; None: declaration order alone). A
        task still waiting counts again what it needs, some of which may be new."""
        priority = priority or {}
        self._tasks, self._order = graph.tasks, graph.order
        self._dependents = graph.dependents()
        needs = graph.needs_of_each()
        waiting = self._waiting
        for name in added:
            waiting[name] = 0
        self._left += len(added)
        for name, state in waiting.items():
            if state >= 0:
                waiting[name] = sum(
                    1 for need in needs[name] if need in waiting and waiting[need] != _DONE
                )
        urgency = ((-priority.get(name, 0.0), graph.order[name], name) for name in added)
        for _, _, name in sorted(urgency):
            self._rank[name] = len(self._names)
            self._names.append(name)
        for name in sorted(added, key=self._rank.__getitem__):
            if waiting[name] == 0:
                self._push(name)

    def finished(self) -> bool:
        """Whether every selected task has been reported done."""
        return self._left == 0

    def remaining(self) -> list[str]:
        """The tasks not yet reported done, in declaration order."""
        left = [name for name, state in self._waiting.items() if state != _DONE]
        return sorted(left, key=self._order.__getitem__)


class _Pool:
    """The free amount of each limited resource, its free names where it has names, and the
    tasks waiting for some.

    Names without a limit are not counted. Waiting tasks queue per request shape, so giving
    back retries only the head of each queue: one check per start, not one per waiting task.
    """

    def __init__(self, limits: Mapping[str, Limit]) -> None:
        self._free = {name: size(limit) for name, limit in limits.items()}
        self._units = {
            name: Units(limit) for name, limit in limits.items() if isinstance(limit, tuple)
        }
        self._queues: dict[Amounts, deque[str]] = {}

    def counted(self, request: Amounts) -> Amounts:
        """The part of ``request`` that has a limit."""
        if not request or not self._free:
            return ()  # most tasks ask for nothing, most builds limit nothing
        return tuple(pair for pair in request if pair[0] in self._free)

    def _fits(self, request: Amounts) -> bool:
        return all(self._free[name] >= amount for name, amount in request)

    def _take(self, request: Amounts) -> Held:
        held = []
        for name, amount in request:
            self._free[name] -= amount
            units = self._units.get(name)
            if units is not None:  # whole numbers: checked before the build
                held.append((name, units.take(int(amount))))
        return tuple(held)

    def take(self, name: str, request: Amounts) -> Held | None:
        """Take ``request`` for task ``name``: the names it holds (empty where its resources
        are only counted); None (and queued) while it is not free. A task never passes one
        queued before it with the same request."""
        queue = self._queues.get(request)
        if not queue and self._fits(request):
            return self._take(request)
        self._queues.setdefault(request, deque()).append(name)
        return None

    def give_back(self, request: Amounts, held: Held) -> list[tuple[str, Amounts, Held]]:
        """Free ``request`` and the names ``held``; returns the queued tasks that now hold
        theirs, with what they hold."""
        for name, amount in request:
            self._free[name] += amount
        for name, names in held:
            self._units[name].give_back(names)
        admitted = []
        for shape, queue in self._queues.items():
            while queue and self._fits(shape):
                admitted.append((queue.popleft(), shape, self._take(shape)))
        return admitted
