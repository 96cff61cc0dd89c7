"""The importable engine: load, plan and run a build, and return its result."""

from __future__ import annotations

import os
import pickle
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor

from minimake.disk import Disk
from minimake.errors import NoRuleError, UnpicklableRecipeError, UsageError
from minimake.graph import Graph, build_graph, default_goal, missing_inputs, resolve_goals, select
from minimake.load import load_tasks
from minimake.recipes import RecipeSpec
from minimake.result import BuildResult, Status
from minimake.runners import DryRunner, ExecutorRunner, Runner, TouchRunner
from minimake.scheduler import BuildInterrupted, Scheduler, Settings
from minimake.task import Task
from minimake.ui import NullReporter, Reporter

# Statuses that mean a recipe really was (or would be) carried out for a goal.
_WORKED = (Status.RAN, Status.WOULD_RUN, Status.TOUCHED, Status.FAILED)


def build(
    tasks: str | os.PathLike[str] | Iterable[Task],
    goals: Sequence[str] = (),
    *,
    jobs: int = 1,
    dry_run: bool = False,
    question: bool = False,
    touch: bool = False,
    always_make: bool = False,
    keep_going: bool = False,
    ignore_errors: bool = False,
    what_if: Iterable[str] = (),
    old: Iterable[str] = (),
    executor: Executor | None = None,
    reporter: Reporter | None = None,
    variables: Mapping[str, str] | None = None,
    root: str | os.PathLike[str] | None = None,
) -> BuildResult:
    """Bring ``goals`` up to date and return what happened to each task.

    ``tasks`` is a tasks.py path or Task objects (then paths are relative to ``root``, default
    the current folder). Errors found before anything runs (a cycle, a missing input, an
    unknown goal) raise MinimakeError; a failing recipe does not raise, it shows in the result.
    Ctrl-C raises BuildInterrupted (a KeyboardInterrupt) after stopping every recipe.
    Never calls sys.exit, and prints only through ``reporter``.
    """
    started = time.perf_counter()
    reporter = reporter or NullReporter()
    variables = dict(variables or {})
    if jobs < 1:
        raise UsageError(f"'jobs' must be at least 1 (got {jobs})")
    if isinstance(tasks, (str, os.PathLike)):
        path = os.path.abspath(os.fspath(tasks))
        declared = load_tasks(path, variables)
        root = os.path.dirname(path)
    else:
        declared = list(tasks)
        root = os.path.abspath(os.fspath(root or os.getcwd()))
    graph = build_graph(declared)
    if not goals:
        first = default_goal(graph)
        if first is None:
            raise UsageError("No targets")
        goals = (first,)
    disk = Disk(root, what_if=what_if, old=old)
    exists = lambda path: disk.mtime(path) is not None  # noqa: E731
    names, _ = resolve_goals(graph, goals, exists)
    selected = select(graph, names)
    missing = _first_missing(missing_inputs(graph, selected, exists))
    if missing and not keep_going:
        raise next(iter(missing.values()))
    runner = _runner(graph, selected, disk, jobs, dry_run or question, touch, executor, variables)
    settings = Settings(jobs, always_make, keep_going, ignore_errors)
    scheduler = Scheduler(graph, selected, disk, runner, reporter, settings, missing)
    reporter.begin(len(selected), jobs)
    try:
        results = scheduler.run()
    except BuildInterrupted as stop:
        seconds = time.perf_counter() - started
        reporter.summary(BuildResult(stop.results, tuple(goals), seconds, interrupted=True))
        raise
    result = BuildResult(results, tuple(goals), time.perf_counter() - started)
    _report_goals(graph, goals, result, reporter, keep_going and not (dry_run or question))
    reporter.summary(result)
    return result


def _first_missing(errors: list[NoRuleError]) -> dict[str, NoRuleError]:
    found: dict[str, NoRuleError] = {}
    for error in errors:
        assert error.needed_by is not None
        found.setdefault(error.needed_by, error)
    return found


def _runner(
    graph: Graph,
    selected: set[str],
    disk: Disk,
    jobs: int,
    pretend: bool,
    touch: bool,
    executor: Executor | None,
    variables: dict[str, str],
) -> Runner:
    if pretend:
        return DryRunner()
    if touch:
        return TouchRunner(disk)
    in_process = isinstance(executor, ThreadPoolExecutor)
    payloads = {} if in_process else _payloads(graph, selected)
    names = tuple(sorted(variables.items()))

    def spec_of(task: Task) -> RecipeSpec:
        if isinstance(task.recipe, (str, tuple)):
            commands = (task.recipe,) if isinstance(task.recipe, str) else task.recipe
            return RecipeSpec(task.name, disk.root, _environment(task, variables), commands)
        if in_process:
            call = (task.recipe, task.args, task.keyword_arguments)
            return RecipeSpec(task.name, disk.root, call=call)
        if task.source is not None:
            return RecipeSpec(task.name, disk.root, source=task.source, variables=names)
        return RecipeSpec(task.name, disk.root, payload=payloads[task.name])

    if executor is not None:
        return ExecutorRunner(executor, spec_of)
    from minimake.pool import process_pool

    return ExecutorRunner(process_pool(jobs), spec_of, lambda: process_pool(jobs), owned=True)


def _payloads(graph: Graph, selected: set[str]) -> dict[str, bytes]:
    """Pickle the Python recipes built in code now, so one that cannot reach a worker process
    is reported before anything runs (tasks from a tasks file are re-imported there instead)."""
    payloads = {}
    for name in sorted(selected, key=graph.order.__getitem__):
        task = graph.tasks[name]
        if callable(task.recipe) and task.source is None:
            try:
                payloads[name] = pickle.dumps((task.recipe, task.args, task.keyword_arguments))
            except Exception as error:
                raise UnpicklableRecipeError(name, f"{type(error).__name__}: {error}") from error
    return payloads


def _environment(task: Task, variables: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """A shell recipe's view of its task, make's ``$@ $^ $<`` as environment variables."""
    deps = list(dict.fromkeys(task.deps))
    automatic = {
        "TARGET": task.targets[0],
        "TARGETS": " ".join(task.targets),
        "DEP": deps[0] if deps else "",
        "DEPS": " ".join(deps),
    }
    return tuple({**variables, **automatic}.items())


def _report_goals(
    graph: Graph, goals: Sequence[str], result: BuildResult, reporter: Reporter, keep_going: bool
) -> None:
    """make's closing line per goal: nothing to do, up to date, or not remade."""
    for goal in goals:
        name = graph.task_of(goal)
        if name is None:  # an existing plain file
            reporter.goal_done(goal, result, phony_or_no_recipe=True)
            continue
        status = result.tasks[name].status
        if status in (Status.FAILED, Status.SKIPPED):
            if keep_going:
                reporter.not_remade(goal)
            continue
        worked = any(
            result.tasks[n].status in _WORKED and result.tasks[n].has_recipe
            for n in select(graph, [name])
        )
        if not worked:
            task = graph.tasks[name]
            reporter.goal_done(goal, result, task.phony or task.recipe is None)


__all__ = ["BuildInterrupted", "build"]
