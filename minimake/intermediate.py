"""make's rule for intermediate files (``.SECONDARY``/``.INTERMEDIATE``): a task declared
``intermediate=True`` whose targets are missing is not remade while every task that needs it
is up to date against the intermediate's own deps; when one of them is stale, it is remade
first.

Decided before the build, by a dry run: the targets of the intermediates that can stay
missing are then treated as make's ``-o`` treats a file (not remade, never newer than what
needs it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

from minimake.disk import Disk, StampKind
from minimake.errors import MinimakeError
from minimake.events import NullReporter
from minimake.graph import Graph, resolve_goals, select
from minimake.journal import NullJournal
from minimake.result import Status
from minimake.scheduler import Runner, Scheduler, Settings


def left_missing(
    graph: Graph,
    goals: Sequence[str],
    disk: Disk,
    dry_runner: Callable[[], Runner],
    *,
    old: Iterable[str] = (),
    what_if: Iterable[str] = (),
    triggers: tuple[str, ...] = ("mtime",),
) -> tuple[str, ...]:
    """The targets of the intermediate tasks that need not be remade for ``goals`` (none
    when no intermediate task the goals need has its targets missing); ``dry_runner`` makes
    the runner of ``-n``."""
    names, _ = resolve_goals(graph, goals, disk.exists)
    selected = select(graph, names)
    dependents = graph.dependents()
    tasks = graph.tasks
    missing = StampKind.MISSING
    skip = {
        name
        for name in selected
        if tasks[name].intermediate
        and not tasks[name].phony
        and tasks[name].recipe is not None
        and name not in names
        and any(d in selected for d in dependents[name])
        and all(disk.stamp(path).kind is missing for path in tasks[name].targets)
    }
    old, what_if = tuple(old), tuple(what_if)
    while skip:
        assumed = Disk(disk.root, what_if=what_if, old=(*old, *_targets(graph, skip)))
        would = _would_run(graph, selected, assumed, dry_runner(), triggers)
        if would is None:
            return ()
        drop = {name for name in skip if not _can_stay(graph, name, skip, selected, would, disk)}
        if not drop:
            return _targets(graph, skip)
        skip -= drop
    return ()


def _targets(graph: Graph, names: Iterable[str]) -> tuple[str, ...]:
    return tuple(path for name in sorted(names) for path in graph.tasks[name].targets)


def _would_run(
    graph: Graph, selected: set[str], disk: Disk, runner: Runner, triggers: tuple[str, ...]
) -> set[str] | None:
    """What a dry run would run (None when it cannot tell: a missing input)."""
    try:
        loop = Scheduler(
            graph,
            selected,
            disk,
            runner,
            NullReporter(),
            Settings(triggers=triggers),
            None,
            NullJournal(),
        )
        results = loop.run()
    except MinimakeError:
        return None
    if any(result.status is Status.FAILED for result in results.values()):
        return None
    return {name for name, result in results.items() if result.status is Status.WOULD_RUN}


def _can_stay(
    graph: Graph,
    name: str,
    skip: set[str],
    selected: set[str],
    would: set[str],
    disk: Disk,
) -> bool:
    """Whether the intermediate ``name`` can stay missing: nothing it needs is remade, no
    task that needs it runs, and none is older than its deps (make's check of an
    intermediate's prerequisites against the target that needs it)."""
    if any(need in would for need in graph.needs(name)):
        return False
    newest = _newest_dep(graph, name, skip, disk)
    if newest is None:
        return False
    target_paths = set(graph.tasks[name].targets)
    for dependent in graph.dependents()[name]:
        if dependent not in selected:
            continue
        if dependent in would:
            return False
        task = graph.tasks[dependent]
        if not target_paths.intersection(task.deps):
            continue  # an order-only dep: never compared
        mtimes = [disk.stamp(path).mtime for path in task.targets]
        oldest = min((m for m in mtimes if m is not None), default=None)
        if oldest is None or None in mtimes or newest > oldest:
            return False
    return True


def _newest_dep(graph: Graph, name: str, skip: set[str], disk: Disk) -> int | None:
    """The newest mtime among the deps of ``name``, through the deps of other missing
    intermediates (0 for none); None when a dep is missing otherwise."""
    newest = 0
    producer: Mapping[str, str] = graph.producer
    for path in graph.tasks[name].deps:
        mtime = disk.stamp(path).mtime
        if mtime is None:
            maker = producer.get(path)
            if maker is None or maker not in skip:
                return None
            mtime = _newest_dep(graph, maker, skip, disk)
            if mtime is None:
                return None
        newest = max(newest, mtime)
    return newest
