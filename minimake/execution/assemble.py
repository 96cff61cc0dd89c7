"""How a task becomes a running process: the runner a build's options ask for, and the spec
that tells an executor what to run for each task (its commands or callable, its environment,
its capture files, its time limit).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from minimake.errors import UnpicklableRecipeError
from minimake.execution.capture import Capture, same_file
from minimake.execution.recipes import PythonSpec, RecipeSpec, ShellSpec
from minimake.execution.runners import DryRunner, DryTouchRunner, LocalRunner, TouchRunner
from minimake.graph import Graph, requests
from minimake.load import load_preload
from minimake.script import shown_recipe
from minimake.task import Task
from minimake.words import where

if TYPE_CHECKING:
    from minimake.engine import Prepared
    from minimake.scheduler import Runner


def make_runner(prepared: Prepared, warn: Callable[[str], None] | None = None) -> Runner:
    """What carries out the build's recipes: a pretending runner under -n, -q and -t, else
    recipes on the executor the options name (a process pool by default); ``warn`` is told
    of time limits that executor cannot enforce."""
    options, root = prepared.options, prepared.disk.root
    describe = _describer(prepared)
    if options.pretend:
        return DryTouchRunner() if options.touch else DryRunner(describe)
    if options.touch:
        return TouchRunner(prepared.disk)
    executor, jobs = options.executor, options.jobs or 1
    in_process = isinstance(executor, ThreadPoolExecutor) or executor == "thread"
    if warn is not None:
        _say_unenforced(prepared, warn)
    if options.executor_kind == "dask":
        from minimake.execution import dask

        # Python recipes go by value: a worker may not be able to import the recipe's module.
        payloads = _payloads(prepared.graph, prepared.selected, dask.dumps)
        # On Dask, output is captured where the recipe runs and comes back as text.
        spec_of = _specs(
            prepared, payloads, lambda: Capture(None, False), in_process=False, dumps=dask.dumps
        )
        return dask.DaskRunner.open(spec_of, root, **_remote(prepared))
    payloads = {} if in_process else _payloads(prepared.graph, prepared.selected)
    spec_of = _specs(prepared, payloads, _lazy_capture(root), in_process=in_process)
    # No process group goes to the journal: the run's token in their environment finds them.
    if executor == "thread":
        threads = ThreadPoolExecutor(jobs)
        return LocalRunner(spec_of, threads, root=root, owned=True, describe=describe)
    if isinstance(executor, Executor):
        return LocalRunner(spec_of, executor, root=root, describe=describe)

    preload = load_preload(options.file, dict(options.variables)) if options.file else ()

    def pool() -> Executor:
        from minimake.execution.pool import (
            process_pool,  # multiprocessing only once a recipe needs it
        )

        return process_pool(jobs, preload=preload)

    return LocalRunner(spec_of, pool, root=root, describe=describe)


def _describer(prepared: Prepared) -> Callable[[Task], list[str]]:
    """How each task's recipe is shown (make's script: $TARGET and the like replaced)."""
    trigger = prepared.through
    return lambda task: shown_recipe(task, trigger.get(task.name))


def _ours(executor: object) -> bool:
    """Whether ``executor`` is minimake's own process pool (``minimake.process_pool``)."""
    from minimake.execution.pool import ProcessPool  # multiprocessing, only for an Executor

    return isinstance(executor, ProcessPool)


# Where a time limit cannot be enforced, and why.
_WHERE = {
    "thread": "on the thread executor (a thread cannot be stopped)",
    "instance": "on an executor of the caller's (its calls cannot be stopped)",
}


def _unenforced(prepared: Prepared) -> list[str]:
    """The tasks whose time limit the executor cannot enforce: a Python recipe on a thread
    (nothing stops a thread) or on a caller's executor. Shell recipes on the thread executor
    still run on minimake's own, and minimake's pool and Dask workers stop their recipes."""
    options = prepared.options
    kind = options.executor_kind
    if kind in ("process", "dask") or (kind == "instance" and _ours(options.executor)):
        return []
    tasks = prepared.graph.tasks
    found = []
    for name in sorted(prepared.selected):
        task = tasks[name]
        limit = task.timeout if task.timeout is not None else options.timeout
        if limit is not None and callable(task.recipe):
            found.append(name)
    return found


def _say_unenforced(prepared: Prepared, warn: Callable[[str], None]) -> None:
    """Say once, before anything runs, which time limits will not be enforced, and why: the
    build still runs (the main job's trials have limits, and a thread run is for debugging)."""
    names = _unenforced(prepared)
    if names:
        where = _WHERE[prepared.options.executor_kind]
        warn(
            f"warning: time limits are not enforced {where}: {_some(names)} without one "
            "(the process executor enforces them)."
        )
    if prepared.options.timeout is not None:
        tasks = prepared.graph.tasks
        console = sorted(name for name in prepared.selected if tasks[name].console)
        if console:
            warn(
                f"warning: --timeout does not limit console tasks: {_some(console)} without "
                "one (in minimake's own process group, nothing could stop it alone)."
            )


def _some(names: list[str]) -> str:
    """A warning's subject and verb: one task, or how many and the first."""
    return (
        f"{len(names)} tasks, such as '{names[0]}', run" if len(names) > 1 else f"'{names[0]}' runs"
    )


def _remote(prepared: Prepared) -> dict[str, Any]:
    """The Dask runner's settings: the cluster to reach or start, and what tasks ask for."""
    options = prepared.options
    return {
        "executor": None if isinstance(options.executor, str) else options.executor,
        "scheduler": options.scheduler,
        "scheduler_file": options.scheduler_file,
        "jobs": options.jobs,
        "latency_wait": options.latency_wait,
        "requests": requests(prepared.graph, prepared.selected),
    }


def _specs(
    prepared: Prepared,
    payloads: Mapping[str, bytes],
    capture: Callable[[], Capture],
    *,
    in_process: bool,
    dumps: Callable[[Any], bytes] | None = None,
) -> Callable[[Task], RecipeSpec]:
    """How to describe each task's recipe to the executor that runs it."""
    options, root = prepared.options, prepared.disk.root
    trigger = prepared.through
    names = tuple(sorted(options.variables))
    env = options.variables
    ignore_errors, echo = options.ignore_errors, not options.silent
    default_limit = options.timeout

    def spec_of(task: Task) -> RecipeSpec:
        outputs = task.outputs
        limit = task.timeout if task.timeout is not None else default_limit
        if task.console:  # in minimake's own group: nothing could stop it alone (_say_unenforced)
            limit = None
        if isinstance(task.recipe, (str, tuple)):
            commands = (task.recipe,) if isinstance(task.recipe, str) else task.recipe
            target = trigger.get(task.name)
            echoes = echo and not task.silent
            return ShellSpec(
                task.name,
                root,
                commands,
                capture(),
                env=(*env, *_automatic(task, target)),
                lists=_lists(task),
                outputs=outputs,
                ignore_errors=ignore_errors,
                where=where(task, target) if ignore_errors else "",
                echo=echoes,
                console=task.console,
                # The lines after the first, which the recipe echoes as it reaches them (the
                # runner's echo shows the first): a one-line recipe needs none.
                shown=tuple(shown_recipe(task, target)) if echoes and len(commands) > 1 else (),
                timeout=limit,
            )
        if in_process:
            call = (task.recipe, task.args, task.keyword_arguments)
            return PythonSpec(task.name, root, capture(), outputs, call=call)
        if task.source is not None:
            return PythonSpec(
                task.name,
                root,
                capture(),
                outputs,
                source=task.source,
                variables=names,
                timeout=limit,
            )
        payload = payloads.get(task.name)
        if payload is None:  # declared by an expand_after generator as the build ran
            payload = _payloads(_one(task), {task.name}, dumps)[task.name]
        # The tasks file is imported first in the worker: a generated recipe, a function of
        # it, is pickled by reference to its module.
        return PythonSpec(
            task.name,
            root,
            capture(),
            outputs,
            source=os.path.abspath(options.file) if options.file else None,
            variables=names,
            payload=payload,
            timeout=limit,
        )

    return spec_of


def _one(task: Task) -> Graph:
    """A graph of ``task`` alone, for _payloads."""
    from minimake.graph import build_graph

    return build_graph([task])


def _lazy_capture(root: str) -> Callable[[], Capture]:
    """The build's capture folder, made when the first recipe runs (a null build makes none).
    One file per task where minimake's stdout and stderr are one file, as make's -O does."""
    made: list[Capture] = []

    def capture() -> Capture:
        if not made:
            made.append(Capture.under(root, combined=same_file(1, 2)))
        return made[0]

    return capture


def _payloads(
    graph: Graph, selected: set[str], dumps: Callable[[Any], bytes] | None = None
) -> dict[str, bytes]:
    """Pickle the Python recipes built in code now, so one that cannot reach a worker process
    is reported before anything runs (tasks from a tasks file are re-imported there instead).
    ``dumps``: pickle's, unless given."""
    payloads = {}
    # In declaration order (graph.tasks keeps it), which is cheaper than sorting the selection.
    for name, task in graph.tasks.items():
        if callable(task.recipe) and task.source is None and name in selected:
            if dumps is None:  # a build of shell recipes never imports pickle
                import pickle

                dumps = pickle.dumps
            try:
                payloads[name] = dumps((task.recipe, task.args, task.keyword_arguments))
            except Exception as error:
                raise UnpicklableRecipeError(name, f"{type(error).__name__}: {error}") from error
    return payloads


def _automatic(task: Task, target: str | None = None) -> tuple[tuple[str, str], ...]:
    """make's ``$@`` and ``$<`` as environment variables; ``target`` is the target that
    triggered a task with several (make's ``$@``)."""
    first = target or task.targets[0]
    return (("TARGET", first), ("DEP", task.deps[0] if task.deps else ""))


def _lists(task: Task) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """make's ``$^`` (without repeats) and all the targets, passed as lists: a list too long
    for the environment reaches the recipe as a file instead (``$DEPS_FILE``)."""
    return (("TARGETS", task.targets), ("DEPS", tuple(dict.fromkeys(task.deps))))
