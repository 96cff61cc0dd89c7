"""Rounds of a search: tasks that an ``expand_after`` generator declares once its triggers
are up to date, and how they join the graph (only additions; pure but for the call)."""

from __future__ import annotations

import inspect
import os
import traceback
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs

from minimake.errors import ExpansionError, MinimakeError, NoRuleError, UnknownProductError
from minimake.graph import Graph, build_graph, missing_inputs
from minimake.task import Task, collecting, declared_generators

# The name of a generator's node in the graph: what the tasks that need its products wait for.
PREFIX = "expand:"


@attrs.frozen
class Generator:
    """A function that declares tasks once ``triggers`` are up to date (``expand_after``)."""

    function: Callable[..., Any] = attrs.field(eq=False)
    triggers: tuple[str, ...]
    produces: tuple[str, ...] = ()
    name: str = "expand"
    location: str | None = attrs.field(default=None, eq=False)
    source: str | None = attrs.field(default=None, eq=False)

    @property
    def node(self) -> str:
        """Its node's name in the graph."""
        return PREFIX + self.name

    @property
    def shown(self) -> str:
        """How messages name it: ``round2 (tasks.py:40)``."""
        return f"{self.name} ({self.location})" if self.location else self.name

    def placeholder(self) -> Task:
        """Its node before it has run: needs its triggers, and stands for what it produces."""
        return Task(
            targets=(self.node, *self.produces),
            deps=self.triggers,
            doc=f"Tasks declared by {self.shown} once {', '.join(self.triggers)} are built.",
            location=self.location,
            source=self.source,
        )

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.function(*args, **kwargs)


def split(items: Iterable[Task | Generator]) -> tuple[list[Task], dict[str, Generator]]:
    """Tasks, and the generators by node name, with a placeholder task for each generator."""
    tasks: list[Task] = []
    generators: dict[str, Generator] = {}
    for item in items:
        if isinstance(item, Generator):
            generators[item.node] = item
            tasks.append(item.placeholder())
        else:
            tasks.append(item)
    return tasks, generators


@attrs.frozen
class Expansion:
    """What one generator added: the new graph, its new task names, the generators it declared."""

    graph: Graph
    added: tuple[str, ...]
    generators: dict[str, Generator]


def expand(
    graph: Graph,
    generator: Generator,
    variables: Mapping[str, str],
    exists: Callable[[str], bool],
    keep_node: bool,
    root: str = ".",
) -> Expansion:
    """Call ``generator`` and return the graph with what it declared added; raises
    ExpansionError (and changes nothing) when it raises, writes a target already written,
    closes a cycle, needs a file nothing writes, or leaves a declared product unwritten.

    ``keep_node``: the generator's node stays (done, needing its triggers alone), for a build
    loop whose plan has handed it out already.
    """
    declared, nested = _call(generator, variables, root)
    # Its tasks go to the workers by value: a fresh import of the tasks file lacks them.
    declared = [attrs.evolve(task, source=None) for task in declared]
    new_tasks, generators = split([*declared, *nested])
    kept: list[Task] = []
    for name, task in graph.tasks.items():
        if name == generator.node:
            if keep_node:
                kept.append(attrs.evolve(task, targets=(generator.node,)))
        else:
            kept.append(task)
    try:
        grown = build_graph([*kept, *new_tasks])
    except MinimakeError as error:
        raise ExpansionError(generator.shown, generator.location, str(error)) from error
    unwritten = [path for path in generator.produces if grown.producer.get(path) is None]
    if unwritten:
        raise ExpansionError(
            generator.shown,
            generator.location,
            f"it was to produce '{unwritten[0]}' (produces=...), but no task it declared writes it",
        )
    added = tuple(task.name for task in new_tasks)
    lacking = missing_inputs(grown, set(added), exists)
    if lacking:
        raise ExpansionError(generator.shown, generator.location, str(lacking[0]))
    return Expansion(grown, added, generators)


def _call(
    generator: Generator, variables: Mapping[str, str], root: str
) -> tuple[list[Task], list[Generator]]:
    """Run the generator, collecting what it declares; ExpansionError at the line it raised.

    It is given its triggers as paths that reach them from here: as written when the build
    runs in its own folder (the command line), else through that folder."""
    function = generator.function
    arguments: tuple[str, ...] = ()
    if _takes_arguments(function):
        arguments = tuple(os.path.relpath(os.path.join(root, t)) for t in generator.triggers)
    with collecting(generator.source, variables) as tasks:
        try:
            function(*arguments)
        except MinimakeError as error:
            raise ExpansionError(generator.shown, generator.location, str(error)) from error
        except Exception as error:
            where = _line(error, generator.source) or generator.location
            problem = f"{type(error).__name__}: {error}"
            raise ExpansionError(generator.shown, where, problem) from error
        return list(tasks), declared_generators()


def _takes_arguments(function: Callable[..., Any]) -> bool:
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.kind is not p.KEYWORD_ONLY for p in parameters)


def _line(error: BaseException, source: str | None) -> str | None:
    """``tasks.py:42``, the innermost line of the tasks file in the traceback."""
    if source is None:
        return None
    found = None
    for frame in traceback.extract_tb(error.__traceback__):
        if os.path.abspath(frame.filename) == source:
            found = f"{os.path.basename(source)}:{frame.lineno}"
    return found


def unknown_yet(generator: Generator, declared_before: int | None) -> str:
    """The line -n says for a generator whose triggers are stale."""
    last = (
        f"; last time it declared {declared_before} tasks"
        if declared_before is not None
        else "; it has not run yet"
    )
    return (
        f"tasks declared by {generator.shown} are known once "
        f"{', '.join(generator.triggers)} {'is' if len(generator.triggers) == 1 else 'are'} "
        f"built{last}"
    )


def unknown_product(error: NoRuleError, generators: Iterable[Generator]) -> NoRuleError:
    """``error`` naming the generator still to run whose names are closest to its target (the
    one most likely to declare it), and how to let tasks depend on what it declares."""
    waiting = list(generators)
    if not waiting:
        return error

    def closeness(generator: Generator) -> int:
        names = generator.produces + generator.triggers
        return max(_shared(error.target, name) for name in names)

    closest = max(waiting, key=closeness)
    return UnknownProductError(error, closest.shown, closest.produces)


def _shared(one: str, other: str) -> int:
    """How many leading characters two names share ("dist/round2/" in both: 12)."""
    count = 0
    for a, b in zip(one, other, strict=False):
        if a != b:
            break
        count += 1
    return count
