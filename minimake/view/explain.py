"""``--explain TARGET``: why one target is stale or up to date, followed to the first cause (pure).

It reads the result of a dry run (the same decisions a real run makes, so it never disagrees
with ``-n``) and walks from the target down the chain of deps that will be remade.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from minimake.disk import Stamp, StampKind
from minimake.graph import Graph
from minimake.result import CARRIED_OUT, BuildResult, Status
from minimake.task import Task
from minimake.uptodate import ReasonKind, format_stamp, format_stamps


@attrs.frozen
class Step:
    """One link of the chain: a task (or plain file), its state and why."""

    name: str
    state: str  # "is stale", "is up to date", "cannot be made", "is a source file"
    reason: str
    # How it follows the link above: "because" (it is the cause), or "and its dep" (below a
    # phony task, which is stale by itself, the first of its deps that will be remade).
    via: str = ""


def explain(
    graph: Graph, result: BuildResult, target: str, stamp: Callable[[str], Stamp]
) -> list[Step]:
    """The chain from ``target`` to the first cause, from a dry run's ``result``.

    ``stamp`` gives what the disk says of a file (``Disk.stamp``), for the up-to-date case.
    """
    name = graph.task_of(target)
    if name is None:
        seen = stamp(target)
        missing = seen.kind is StampKind.MISSING
        when = "missing" if missing else f"modified {format_stamp(seen)}"
        return [Step(target, "is a source file", f"no task writes it ({when})")]
    steps: list[Step] = []
    visited: set[str] = set()
    next_name: str | None = name
    via = ""
    while next_name is not None and next_name not in visited:
        visited.add(next_name)
        task = graph.tasks[next_name]
        step, next_name = _step(graph, result, task, stamp)
        steps.append(attrs.evolve(step, via=via))
        via = "and its dep" if _phony(result, task.name) else "because"
    return steps


def _phony(result: BuildResult, name: str) -> bool:
    """Whether the task is stale for being phony: the next link is one of its deps."""
    decided = result.tasks.get(name)
    reason = decided.reason if decided is not None else None
    return reason is not None and reason.kind is ReasonKind.PHONY


def _step(
    graph: Graph, result: BuildResult, task: Task, stamp: Callable[[str], Stamp]
) -> tuple[Step, str | None]:
    """This task's link, and the task the chain goes on to (None: this is the first cause)."""
    decided = result.tasks.get(task.name)
    if decided is None:
        return Step(task.name, "was not decided", "the build stopped before it"), None
    if decided.status is Status.UP_TO_DATE:
        return Step(task.name, "is up to date", _fresh(task, stamp)), None
    if decided.status is Status.SKIPPED:
        return Step(task.name, "cannot be made", f"it needs '{decided.blocked_by}'"), (
            decided.blocked_by
        )
    if decided.status is Status.FAILED:
        return Step(task.name, "cannot be made", decided.error or "its recipe failed"), None
    reason = decided.reason
    if reason is None:
        return Step(task.name, "is stale", "stale"), None
    step = Step(task.name, "is stale", reason.detailed())
    # On to the dep the reason names, or below a phony task (stale by itself) to the first of
    # its deps: when a task makes it and that task will be remade.
    deps = task.deps if reason.kind is ReasonKind.PHONY else (reason.dep,) if reason.dep else ()
    for dep in deps:
        producer = graph.task_of(dep)
        if producer is not None and result.tasks[producer].status in CARRIED_OUT:
            return step, producer
    return step, None


def _fresh(task: Task, stamp: Callable[[str], Stamp]) -> str:
    """Why an up-to-date task is: its newest dep is not newer than its oldest target."""
    targets = [(stamp(path), path) for path in task.targets]
    oldest, oldest_path = min(targets, key=lambda pair: pair[0].order)
    if oldest.kind is StampKind.OLD or oldest.kind is StampKind.MISSING:
        return "its targets are assumed old (-o), so it is not remade"
    deps = [(seen, dep) for dep in task.deps if (seen := stamp(dep)).kind is not StampKind.MISSING]
    if not deps:
        return f"'{oldest_path}' exists and it has no deps"
    # The newest dep; between deps of one mtime, the last name in sort order.
    newest, newest_path = max(deps, key=lambda pair: (pair[0].order, pair[1]))
    shown = format_stamps(newest, oldest)
    return (
        f"its newest dep '{newest_path}' ({shown[0]}) is not newer than "
        f"'{oldest_path}' ({shown[1]})"
    )


# Deeper links are indented no further, and say their depth instead: one more level per link
# made an 8,000-link chain 64 MB of spaces (quadratic), and a 100,000-link one ran out of memory.
INDENTED = 8


def describe(steps: list[Step], target: str) -> list[str]:
    """The chain as lines: the target first, then each cause indented under it (at most
    INDENTED levels; deeper ones numbered by depth)."""
    lines = []
    for depth, step in enumerate(steps):
        name = target if depth == 0 else step.name
        indent = "  " * min(depth, INDENTED) + (f"[{depth}] " if depth > INDENTED else "")
        lead = indent + (f"{step.via} " if step.via else "")
        lines.append(f"{lead}'{name}' {step.state}: {step.reason}")
    return lines
