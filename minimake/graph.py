"""The task graph: build and validate a networkx DAG, select what the goals need (pure)."""

from __future__ import annotations

import operator
import os
from collections.abc import Callable, Iterable, Mapping, Sequence, Set

import attrs
import networkx as nx

from minimake.errors import CycleError, DuplicateOutputError, NoRuleError, TaskDefinitionError
from minimake.gcpause import paused
from minimake.resources import Amounts
from minimake.task import Task, normal_path


@attrs.frozen
class Graph:
    """Tasks as nodes, edges from a dep's task to the task that needs it.

    ``producer`` maps every target path to the name of the task that writes it. A plain-file dep
    (one no task writes) is not a node; it stays in its task's ``deps``.
    """

    dag: nx.DiGraph
    tasks: dict[str, Task]
    producer: dict[str, str]
    order: dict[str, int]  # declaration order: listings, and what make_order's walk does not reach
    # Every task after the tasks it needs: the walk that proved the graph acyclic, kept for
    # the priorities (computed here for a Graph made without build_graph).
    sorted_names: list[str] = attrs.field(
        default=attrs.Factory(lambda graph: list(nx.topological_sort(graph.dag)), takes_self=True)
    )

    def task_of(self, path: str) -> str | None:
        """The name of the task that writes ``path``, if any."""
        return self.producer.get(path)

    def dependents(self) -> Mapping[str, Iterable[str]]:
        """Each task's dependents (the tasks that need it), for lookups in bulk."""
        # networkx's own adjacency dict, read only: successors() builds an iterator per call.
        succ: Mapping[str, Iterable[str]] = self.dag._succ
        return succ

    def needs_of_each(self) -> Mapping[str, Iterable[str]]:
        """Each task's needs (the tasks it needs, directly), for lookups in bulk."""
        pred: Mapping[str, Iterable[str]] = self.dag._pred
        return pred

    def needs(self, name: str) -> list[str]:
        """The tasks ``name`` needs, directly."""
        return list(self.dag.predecessors(name))

    def in_order(self, names: Iterable[str]) -> list[str]:
        """``names`` with every task after the tasks it needs (a topological order)."""
        return list(nx.topological_sort(self.dag.subgraph(names)))

    def needed_counts(self, selected: set[str]) -> dict[str, int]:
        """How many selected tasks each selected task needs, directly."""
        dag = self.dag
        if len(selected) == len(dag):  # the whole graph: each task waits for all it needs
            return dict(dag.in_degree)
        predecessors = dag._pred
        return {name: sum(1 for p in predecessors[name] if p in selected) for name in selected}


def build_graph(tasks: Iterable[Task]) -> Graph:
    """Make the DAG of ``tasks``.

    Raises DuplicateOutputError when two tasks write one file and CycleError with the whole path
    when tasks depend on each other in a circle.
    """
    with paused():
        return _build_graph(tasks)


def _build_graph(tasks: Iterable[Task]) -> Graph:
    by_name: dict[str, Task] = {}
    producer: dict[str, str] = {}
    for declared in tasks:
        name = declared.name
        if declared.recipe is None and (declared.args or declared.kwargs):
            field = "args" if declared.args else "kwargs"
            problem = "is only for a Python callable recipe, and the task has none"
            raise TaskDefinitionError(declared.name, field, problem, declared.location)
        for path in declared.targets:
            other = producer.get(path)
            if other is not None:
                first = by_name[other].location if other in by_name else None
                locations = (first, declared.location)
                raise DuplicateOutputError(path, other, declared.name, locations)
            producer[path] = name
        by_name[name] = declared
    # All edges in two bulk calls. Only an edge made of order-only deps alone carries
    # order_only=True (a normal dep on the same task wins, as in make); the rest carry no data,
    # which keeps a 100,000-edge graph small.
    sources: list[str] = []
    needers: list[str] = []
    order_only: dict[tuple[str, str], None] = {}
    task_of = producer.get
    for name, declared in by_name.items():
        for dep in declared.deps:
            source = task_of(dep)
            if source is not None:
                sources.append(source)
                needers.append(name)
        for dep in declared.order_only:
            source = task_of(dep)
            if source is not None:
                order_only[(source, name)] = None
    dag = nx.DiGraph()
    dag.add_nodes_from(by_name)
    dag.add_edges_from(zip(sources, needers, strict=True))
    marked = [(s, n, {"order_only": True}) for s, n in order_only if not dag.has_edge(s, n)]
    dag.add_edges_from(marked)
    order = {name: index for index, name in enumerate(by_name)}
    return Graph(
        dag=dag,
        tasks=by_name,
        producer=producer,
        order=order,
        sorted_names=_sorted_names(dag, order, sources, needers, order_only),
    )


def _sorted_names(
    dag: nx.DiGraph,
    order: dict[str, int],
    sources: list[str],
    needers: list[str],
    order_only: Iterable[tuple[str, str]],
) -> list[str]:
    """Every task after the tasks it needs; raises CycleError when there is no such order.

    Most tasks files declare each task after what it needs: that order is one, and proves
    the graph acyclic without the walk (a twentieth of a 50,000-task null build). Else the
    same walk as nx.is_directed_acyclic_graph finds one, or the cycle.
    """
    place = order.__getitem__
    declared_in_order = all(map(operator.lt, map(place, sources), map(place, needers)))
    if declared_in_order and all(place(s) < place(n) for s, n in order_only):
        return list(order)
    try:
        return list(nx.topological_sort(dag))
    except nx.NetworkXUnfeasible:
        raise CycleError(_cycle(dag)) from None


def _cycle(dag: nx.DiGraph) -> list[str]:
    # find_cycle walks dep -> dependent; users read "a needs b", so report it reversed.
    edges = nx.find_cycle(dag)
    path = [edges[0][0]] + [edge[1] for edge in edges]
    return list(reversed(path))


def default_goal(graph: Graph) -> str | None:
    """The task marked ``default=True``, else the first declared (make's first target)."""
    for name, declared in graph.tasks.items():
        if declared.default:
            return name
    return next(iter(graph.tasks), None)


def resolve_goals(
    graph: Graph, goals: Sequence[str], exists: Callable[[str], bool], root: str | None = None
) -> tuple[list[str], list[str]]:
    """Split ``goals`` into task names and existing plain files.

    Raises NoRuleError with close-match suggestions for a goal that is neither (the files on
    disk too, in ``root``, when given).
    """
    names, files = [], []
    for goal in map(normal_path, goals):
        name = graph.task_of(goal)
        if name is not None:
            names.append(name)
        elif exists(goal):
            files.append(goal)
        else:
            raise NoRuleError(goal, suggestions=_close_matches(graph, goal, root))
    return names, files


def select(
    graph: Graph, names: Iterable[str], prune: Callable[[str], bool] | None = None
) -> set[str]:
    """The named tasks and every task they need, directly or not.

    A task for which ``prune`` is true is kept but what it needs is not (make's ``-o``: the
    file's rule is ignored, so its prerequisites are not made for its sake).
    """
    selected: set[str] = set()
    stack = list(names)
    # networkx's own adjacency dict, read only: predecessors() builds an iterator per call.
    needs = graph.dag._pred
    while stack:
        name = stack.pop()
        if name not in selected:
            selected.add(name)
            if prune is None or not prune(name):
                stack.extend(needs[name])
    return selected


def make_order(
    graph: Graph,
    goals: Sequence[str],
    within: Set[str],
    prune: Callable[[str], bool] | None = None,
) -> dict[str, int]:
    """Each task of ``within`` numbered in the order make, with one job, runs it: make walks
    the goals in turn and each task's deps (then order-only deps) in order, depth first, and
    runs a task once the walk is back from all it needs. A task for which ``prune`` is true
    is walked but not what it needs (make's ``-o``, as in ``select``). A task the walk does
    not reach through ``within`` (a goal settled already, or what an expand_after generator
    declared) follows, in declaration order."""
    # networkx's adjacency dict, read only: build_graph adds each task's edges in the order
    # of its deps, then of its order-only deps, so it lists what a task needs in make's order
    # (a task named twice once), without a look-up per dep.
    pred: Mapping[str, Iterable[str]] = graph.dag._pred
    if prune is not None:  # -o: an old file's task is walked, not what it needs
        pred = {name: () if prune(name) else pred[name] for name in within}
    order: dict[str, int] = {}
    for goal in goals:
        name = graph.producer.get(goal)
        if name is None or name in order or name not in within:
            continue
        # A task met again is done already: on the path walked now it would be a cycle.
        path, walks = [name], [iter(pred[name])]
        while walks:
            for need in walks[-1]:
                if need not in order and need in within:
                    path.append(need)
                    walks.append(iter(pred[need]))
                    break
            else:  # every dep walked: make runs it now
                walks.pop()
                order[path.pop()] = len(order)
    if len(order) < len(within):
        for name in graph.order:
            if name in within and name not in order:
                order[name] = len(order)
    return order


def requests(graph: Graph, selected: Iterable[str]) -> dict[str, Amounts]:
    """What each selected task asks for of the resources (tasks that ask), in declaration
    order (the first task named in a warning is the first declared)."""
    chosen = selected if isinstance(selected, (set, frozenset)) else set(selected)
    return {
        name: task.resources
        for name, task in graph.tasks.items()
        if task.resources and name in chosen
    }


def triggers(graph: Graph, goals: Sequence[str]) -> dict[str, str]:
    """For each task with several targets, the one through which make reaches it first: its
    ``$@``. make walks the goals in order, and each target's deps in order, depth first."""
    found: dict[str, str] = {}
    if all(len(declared.targets) == 1 for declared in graph.tasks.values()):
        return found  # the common case: every $@ is the task's one target
    visited: set[str] = set()
    stack = [goal for goal in reversed(goals) if goal in graph.producer]
    while stack:
        path = stack.pop()
        name = graph.producer[path]
        if name in visited:
            continue
        visited.add(name)
        declared = graph.tasks[name]
        if len(declared.targets) > 1:
            found[name] = path
        stack.extend(dep for dep in reversed(declared.all_deps) if dep in graph.producer)
    return found


# "Did you mean" compares a name with every target: worth it for the few errors a person
# reads, not for each of 50,000 missing inputs under -k.
_SUGGESTED = 10


def _close_matches(graph: Graph, path: str, root: str | None = None) -> list[str]:
    """The targets closest to ``path``, for a "did you mean" (as Ninja suggests them), and
    with ``root``, the files in ``path``'s folder there (`data.cvs` finds `data.csv`)."""
    import difflib  # for the few errors a person reads, not each run's start-up

    candidates = list(graph.producer)
    if root is not None:
        folder = os.path.dirname(path)
        try:
            names = sorted(os.listdir(os.path.join(root, folder)))
        except OSError:
            names = []
        candidates += [os.path.join(folder, n) for n in names if not n.startswith(".")]
    return difflib.get_close_matches(path, list(dict.fromkeys(candidates)), n=3)


def missing_inputs(
    graph: Graph, selected: Iterable[str], exists: Callable[[str], bool], root: str | None = None
) -> list[NoRuleError]:
    """Every dep of a selected task that no task writes and that is not on disk, in declaration
    order; the first ones, and only those, come with close-match suggestions."""
    errors: list[NoRuleError] = []
    wanted = selected if isinstance(selected, (set, frozenset, dict)) else set(selected)
    producer = graph.producer
    # Declaration order by walking the tasks, cheaper than sorting the selection.
    for name, declared in graph.tasks.items():
        if name not in wanted:
            continue
        # deps, then order-only deps (all_deps, without making that tuple for every task)
        for deps in (declared.deps, declared.order_only):
            for dep in deps:
                if dep not in producer and not exists(dep):
                    close = _close_matches(graph, dep, root) if len(errors) < _SUGGESTED else []
                    errors.append(NoRuleError(dep, needed_by=name, suggestions=close))
    return errors


STEP = 0.1  # seconds: the grain of a recorded duration, and what one more task in a chain adds


def priorities(
    graph: Graph, selected: set[str], durations: Mapping[str, float] | None = None
) -> dict[str, float]:
    """The longest chain of work from each task to the end of the selection (ninja's rule).

    Among ready tasks the one with the most work still behind it starts first, so a long chain
    (or a long task) is not left until the end. A task weighs its recorded duration in
    ``durations`` to a tenth of a second, plus a tenth for being a step at all: tasks of a few
    milliseconds, whose durations are noise, keep the longest chain by count and then
    make's order, run after run. A task with a recipe never seen counts as the median of
    the known ones, a task without one as nothing. With no durations at all every task weighs
    1: the longest chain by count.
    """
    weight = _weights(graph, selected, durations or {})
    # One pass over the topological order that build_graph's cycle check left, backwards, so
    # that every task comes after all its dependents, with plain dict lookups: linear, and no
    # subgraph view, which would filter every neighbour lookup. The adjacency dict is read
    # directly: successors() builds an iterator object per call.
    succ = graph.dag._succ
    everything = len(selected) == len(succ)
    longest: dict[str, float] = {}
    for name in reversed(graph.sorted_names):
        if everything or name in selected:
            most = 0.0
            for successor in succ[name]:
                most = max(most, longest.get(successor, 0.0))  # absent: not selected
            longest[name] = (weight[name] if weight is not None else 1.0) + most
    return longest


def _weights(
    graph: Graph, selected: set[str], durations: Mapping[str, float]
) -> dict[str, float] | None:
    """Each selected task's weight; None when no duration is known (each weighs 1)."""
    known = [seconds for name in selected if (seconds := durations.get(name)) is not None]
    if not known:
        return None
    import statistics  # only once a duration has been recorded

    typical = statistics.median(known)
    tasks = graph.tasks
    return {
        name: round(durations.get(name, typical), 1) + STEP
        if tasks[name].recipe is not None
        else 0.0
        for name in selected
    }
