"""What is ready to start: pure bookkeeping over the selected graph (ninja's Plan)."""

from __future__ import annotations

import heapq

from minimake.graph import Graph


class Plan:
    """Hands out tasks whose deps are all done, most urgent first.

    Every task handed out must be reported ``done`` exactly once, whether it ran, was up to
    date, failed or was skipped, so that the plan always drains.
    """

    def __init__(self, graph: Graph, selected: set[str], priority: dict[str, float]) -> None:
        self._graph = graph
        self._selected = selected
        self._successors = graph.dag.successors
        dag = graph.dag
        if len(selected) == len(dag):  # the whole graph: each task waits for all it needs
            self._waiting: dict[str, int] = dict(dag.in_degree)
        else:
            self._waiting = {
                name: sum(1 for p in dag.predecessors(name) if p in selected) for name in selected
            }
        self._ready: list[tuple[float, int, str]] = []
        self._priority = priority
        self._left = len(selected)
        for name, count in self._waiting.items():
            if count == 0:
                self._push(name)

    def _push(self, name: str) -> None:
        heapq.heappush(self._ready, (-self._priority[name], self._graph.order[name], name))

    def has_ready(self) -> bool:
        """Whether a task can start now."""
        return bool(self._ready)

    def pop(self) -> str:
        """The most urgent ready task."""
        return heapq.heappop(self._ready)[2]

    def requeue(self, name: str) -> None:
        """Hand out ``name`` again: it was popped but could not start yet (resources)."""
        self._push(name)

    def done(self, name: str) -> None:
        """Mark ``name`` finished and release the tasks that were waiting only for it."""
        self._left -= 1
        waiting = self._waiting  # holds the selected tasks alone
        for successor in self._successors(name):
            count = waiting.get(successor)
            if count is not None:
                waiting[successor] = count - 1
                if count == 1:
                    self._push(successor)

    def finished(self) -> bool:
        """Whether every selected task has been reported done."""
        return self._left == 0

    def remaining(self) -> list[str]:
        """The tasks not yet reported done, in declaration order."""
        done_or_ready = {entry[2] for entry in self._ready}
        left = [n for n, count in self._waiting.items() if count > 0] + sorted(done_or_ready)
        return sorted(set(left), key=self._graph.order.__getitem__)
