"""Finding your way: ``--list`` and ``--graph`` (Graphviz dot or Mermaid) as text (pure)."""

from __future__ import annotations

from collections.abc import Iterable

from minimake.graph import Graph
from minimake.task import Task

GRAPH_FORMATS = ("dot", "mermaid")
_WIDEST_NAME = 40  # names longer than this do not push every description to the right


def list_tasks(tasks: Iterable[Task], default: str | None = None) -> list[str]:
    """One line per task in declaration order: its name, then the first line of its doc.

    The default goal is marked ``*``; a phony task says so when it has no doc. A phony task
    with several names shows them all: each is a goal to type.
    """
    tasks = list(tasks)
    names = [" ".join(task.targets) if task.phony else task.name for task in tasks]
    width = min(max(map(len, names), default=0), _WIDEST_NAME)
    lines = []
    for task, name in zip(tasks, names, strict=True):
        doc = task.doc.strip().splitlines()[0] if task.doc.strip() else ""
        if not doc and task.phony:
            doc = "(phony)"
        mark = "*" if task.name == default else " "
        lines.append(f"{mark} {name:<{width}}  {doc}".rstrip())
    return lines


def _nodes(graph: Graph, selected: set[str]) -> tuple[list[str], list[str]]:
    """The selected tasks and the plain files they read, each in declaration order."""
    tasks = sorted(selected, key=graph.order.__getitem__)
    files: dict[str, None] = {}
    for name in tasks:
        for dep in graph.tasks[name].all_deps:
            if graph.task_of(dep) is None:
                files[dep] = None
    return tasks, list(files)


def _edges(graph: Graph, tasks: list[str]) -> list[tuple[str, str, bool]]:
    """(from, to, order_only) with ``from`` a task name or a plain file, deduplicated."""
    edges: dict[tuple[str, str, bool], None] = {}
    for name in tasks:
        task = graph.tasks[name]
        normal = set(task.deps)
        for dep in task.all_deps:
            source = graph.task_of(dep) or dep
            edges[(source, name, dep not in normal)] = None
    return list(edges)


def to_dot(graph: Graph, selected: set[str]) -> str:
    """The selection as a Graphviz digraph: tasks as boxes (phony ones dashed), the plain files
    they read as notes, order-only edges dashed; edges run from a dep to what needs it."""
    tasks, files = _nodes(graph, selected)
    lines = ["digraph minimake {", "  rankdir=LR;", "  node [shape=box];"]
    for name in tasks:
        style = " [style=dashed]" if graph.tasks[name].phony else ""
        lines.append(f"  {_quote(name)}{style};")
    lines += [f"  {_quote(path)} [shape=note];" for path in files]
    for source, target, order_only in _edges(graph, tasks):
        style = " [style=dashed]" if order_only else ""
        lines.append(f"  {_quote(source)} -> {_quote(target)}{style};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _quote(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_mermaid(graph: Graph, selected: set[str]) -> str:
    """The selection as a Mermaid flowchart, shaped as in ``to_dot`` (files as parallelograms,
    phony tasks as stadiums)."""
    tasks, files = _nodes(graph, selected)
    ids = {name: f"n{index}" for index, name in enumerate([*tasks, *files])}
    lines = ["flowchart LR"]
    for name in tasks:
        shape = '(["{}"])' if graph.tasks[name].phony else '["{}"]'
        lines.append(f"  {ids[name]}{shape.format(_label(name))}")
    lines += [f'  {ids[path]}[/"{_label(path)}"/]' for path in files]
    for source, target, order_only in _edges(graph, tasks):
        arrow = "-.->" if order_only else "-->"
        lines.append(f"  {ids[source]} {arrow} {ids[target]}")
    return "\n".join(lines) + "\n"


def _label(name: str) -> str:
    return name.replace('"', "#quot;")


def render_graph(graph: Graph, selected: set[str], form: str) -> str:
    """The selection in ``form``, one of GRAPH_FORMATS."""
    return to_mermaid(graph, selected) if form == "mermaid" else to_dot(graph, selected)
