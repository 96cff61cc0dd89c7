"""The importable engine: load, plan and run a build, and return its result."""

from __future__ import annotations

import contextlib
import os
import pickle
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import attrs

from minimake.capture import Capture, same_file
from minimake.disk import Disk
from minimake.errors import MinimakeError, NoRuleError, UnpicklableRecipeError, UsageError
from minimake.graph import (
    Graph,
    build_graph,
    default_goal,
    missing_inputs,
    resolve_goals,
    select,
    triggers,
)
from minimake.journal import Journal, NullJournal, stop_orphans
from minimake.load import load_preload, load_tasks, load_triggers
from minimake.lock import ProjectLock
from minimake.recipes import PythonSpec, RecipeSpec, ShellSpec
from minimake.recorder import Recorder, Tee
from minimake.resources import check as check_resources
from minimake.resources import limits as resource_limits
from minimake.result import BuildResult, Status
from minimake.runners import DryRunner, DryTouchRunner, LocalRunner, Runner, TouchRunner
from minimake.scheduler import BuildInterrupted, Scheduler, Settings
from minimake.task import Task, check_triggers, normal_path
from minimake.timings import Run
from minimake.ui import NullReporter, Reporter, where

# Statuses that mean a recipe really was (or would be) carried out for a goal.
_WORKED = (Status.RAN, Status.WOULD_RUN, Status.TOUCHED, Status.FAILED)


def build(
    tasks: str | os.PathLike[str] | Iterable[Task],
    goals: Sequence[str] = (),
    *,
    jobs: int | None = None,
    dry_run: bool = False,
    question: bool = False,
    touch: bool = False,
    always_make: bool = False,
    keep_going: bool = False,
    ignore_errors: bool = False,
    silent: bool = False,
    what_if: Iterable[str] = (),
    old: Iterable[str] = (),
    executor: str | Executor | Client | None = None,
    reporter: Reporter | None = None,
    variables: Mapping[str, str] | None = None,
    root: str | os.PathLike[str] | None = None,
    scheduler: str | None = None,
    scheduler_file: str | os.PathLike[str] | None = None,
    latency_wait: float | None = None,
    resources: Mapping[str, float] | None = None,
    timings: bool | str | os.PathLike[str] = False,
    trace: str | os.PathLike[str] | None = None,
    rerun_triggers: Iterable[str] | str | None = None,
    journal: bool = True,
) -> BuildResult:
    """Bring ``goals`` up to date and return what happened to each task.

    ``tasks`` is a tasks.py path or Task objects (then paths are relative to ``root``, default
    the current folder). Errors found before anything runs (a cycle, a missing input, an
    unknown goal) raise MinimakeError; a failing recipe does not raise, it shows in the result.
    Ctrl-C raises BuildInterrupted (a KeyboardInterrupt) after stopping every recipe.
    Never calls sys.exit, and prints only through ``reporter``. ``silent`` (make's -s) keeps a
    recipe list's later lines out of its captured output, as the reporter keeps the first.

    ``executor`` is "process" (the default), "thread", "dask", or an Executor, a Dask Client
    or ``client.get_executor()``. "dask" connects to ``scheduler`` (an address) or
    ``scheduler_file``, or starts a loopback cluster of ``jobs`` workers; ``jobs`` then
    defaults to the cluster's worker threads (else to 1). ``latency_wait`` (seconds, default 5
    on Dask) is how long to wait for outputs a worker wrote to show up here. ``resources``
    ({"gpu": 2}) bounds what running tasks may hold at once, beside ``jobs``.

    ``timings`` (True, or a folder) records when each task ran into ``result.timings`` and
    writes the timing page into the folder (True: ``.minimake/timings`` beside the tasks);
    ``trace`` writes the same run to that file as a Chrome trace (both also after an interrupt).

    ``rerun_triggers`` ("mtime,recipe") overrides the tasks file's ``rerun_triggers()``.
    ``journal`` keeps ``.minimake/journal`` (start markers, durations, recipe signatures) and
    takes the folder's lock for a real run; False keeps no memory between runs, as make.
    """
    started = time.perf_counter()
    reporter = reporter or NullReporter()
    variables = dict(variables or {})
    if jobs is not None and jobs < 1:
        raise UsageError(f"'jobs' must be at least 1 (got {jobs})")
    limits = resource_limits(resources)
    kind = _executor_kind(executor, scheduler, scheduler_file)
    rerun = _triggers(rerun_triggers)
    path = os.path.abspath(os.fspath(tasks)) if isinstance(tasks, (str, os.PathLike)) else None
    root = os.path.dirname(path) if path else os.path.abspath(os.fspath(root or os.getcwd()))
    # -n and -q change nothing: they read the journal and take no lock.
    pretend = dry_run or question
    with _journal(root, journal, writable=not pretend, reporter=reporter) as memory:
        declared, rerun = _declared(tasks, path, variables, rerun)
        graph = build_graph(declared)
        goals = _goals(graph, goals)
        disk = Disk(root, what_if=what_if, old=old, warn=reporter.warning)
        if memory.writable:
            _settle(memory, graph, disk, reporter)
        exists = lambda path: disk.mtime(path) is not None  # noqa: E731
        names, _ = resolve_goals(graph, goals, exists)
        selected = select(
            graph, names, prune=lambda name: disk.assumed_old(graph.tasks[name].outputs)
        )
        missing = _first_missing(missing_inputs(graph, selected, exists))
        if missing and not keep_going:
            raise next(iter(missing.values()))
        requests = {n: graph.tasks[n].resources for n in selected if graph.tasks[n].resources}
        check_resources(requests, limits)
        remote: dict[str, Any] | None = None
        if kind == "dask" and not (dry_run or question or touch):
            remote = {
                "executor": None if isinstance(executor, str) else executor,
                "scheduler": scheduler,
                "scheduler_file": os.fspath(scheduler_file) if scheduler_file else None,
                "jobs": jobs,
                "latency_wait": latency_wait,
                "requests": requests,
            }
        runner = _runner(
            graph,
            selected,
            disk,
            jobs or 1,
            pretend,
            touch,
            executor,
            variables,
            remote,
            ignore_errors=ignore_errors,
            silent=silent,
            trigger=triggers(graph, goals),
            started=memory.spawned if memory.writable else None,
            preload=load_preload(path, variables) if path else (),
        )
        jobs = jobs or runner.capacity
        settings = Settings(
            jobs, always_make, keep_going, ignore_errors, tuple(limits.items()), rerun
        )
        recorder, reporter = _recording(graph, selected, kind, runner, reporter, timings or trace)
        loop = Scheduler(graph, selected, disk, runner, reporter, settings, missing, memory)
        total = sum(graph.tasks[name].recipe is not None for name in selected)
        reporter.begin(total, jobs, memory.durations_of(selected))
        try:
            results = loop.run()
        except BuildInterrupted as stop:
            seconds = time.perf_counter() - started
            stop.result = BuildResult(stop.results, tuple(goals), seconds, interrupted=True)
            reporter.summary(stop.result)
            _keep_timings(recorder, timings, trace, root)
            raise
    result = BuildResult(results, tuple(goals), time.perf_counter() - started)
    _report_goals(graph, goals, result, reporter, keep_going and not (dry_run or question))
    if disk.skewed:
        reporter.warning("warning:  Clock skew detected.  Your build may be incomplete.")
    reporter.summary(result)
    return attrs.evolve(result, timings=_keep_timings(recorder, timings, trace, root))


def _declared(
    tasks: str | os.PathLike[str] | Iterable[Task],
    path: str | None,
    variables: dict[str, str],
    rerun: tuple[str, ...] | None,
) -> tuple[list[Task], tuple[str, ...]]:
    """The tasks, and the run's rerun triggers: ``rerun`` (the command line's), else what the
    tasks file set with ``rerun_triggers()``, else make's rule."""
    if path is None:
        return list(tasks), rerun or ("mtime",)  # type: ignore[arg-type]
    declared = load_tasks(path, variables)
    return declared, rerun or load_triggers(path, variables) or ("mtime",)


def _triggers(value: Iterable[str] | str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    try:
        return check_triggers(value) or None
    except ValueError as error:
        raise UsageError(f"--rerun-triggers: {error}") from error


@contextlib.contextmanager
def _journal(root: str, enabled: bool, *, writable: bool, reporter: Reporter) -> Iterator[Journal]:
    """The folder's journal for one build: with its lock held for a run that writes, after
    stopping what a dead run left running; a NullJournal when ``enabled`` is False."""
    if not enabled:
        yield NullJournal()
        return
    lock = ProjectLock(root) if writable else None
    try:
        if lock is not None:
            lock.acquire(reporter.waiting_for_lock)
        memory = Journal(root, writable=writable)
    except OSError as error:
        if lock is not None:
            lock.release()
        where = error.filename or os.path.join(root, ".minimake")
        raise MinimakeError(
            f"Cannot keep the journal in '{where}': {error.strerror} (--no-journal runs without)"
        ) from error
    try:
        if memory.writable:
            # A dead run's recipes still running are stopped before anything is read.
            stop_orphans(memory.groups)
            memory.groups_gone()
        yield memory
    finally:
        memory.close()
        if lock is not None:
            lock.release()


def _settle(journal: Journal, graph: Graph, disk: Disk, reporter: Reporter) -> None:
    """Delete what the recipes of a run that died had changed (make's .DELETE_ON_ERROR, one
    run late; its recipes still alive were stopped first). The interrupted tasks stay marked,
    so they are stale until they finish."""
    for name, marker in list(journal.markers.items()):
        for path, before in marker.before:
            now = disk.actual(path)
            if graph.task_of(path) == name and now is not None and now != before:
                reporter.deleting(path)
                disk.remove(path)
        if marker.before:
            journal.settled(name)
    journal.compact(keep=graph.tasks)


def _recording(
    graph: Graph,
    selected: set[str],
    kind: str,
    runner: Runner,
    reporter: Reporter,
    wanted: object,
) -> tuple[Recorder | None, Reporter]:
    """A Recorder of the build's timings beside ``reporter``, when ``wanted``."""
    if not wanted:
        return None, reporter
    # Under -n and -t no recipe runs anywhere: say so rather than name the executor.
    executor = kind if runner.status is Status.RAN else f"none ({runner.status.label})"
    recorder = Recorder({name: list(graph.dag.predecessors(name)) for name in selected}, executor)
    return recorder, Tee(recorder, reporter)


def _keep_timings(
    recorder: Recorder | None,
    timings: bool | str | os.PathLike[str],
    trace: str | os.PathLike[str] | None,
    root: str,
) -> Run | None:
    """Write the recorded run's page and trace, as asked; returns the record."""
    if recorder is None or recorder.run is None:
        return None
    if timings:
        from minimake.timings_page import FOLDER, save

        save(recorder.run, os.path.join(root, FOLDER) if timings is True else os.fspath(timings))
    if trace:
        from minimake.chrome_trace import write_trace

        write_trace(recorder.run, trace)
    return recorder.run


def _goals(graph: Graph, goals: Sequence[str]) -> tuple[str, ...]:
    """The goals as make reads them (`./a` is `a`), or the default goal."""
    if goals:
        return tuple(normal_path(goal) for goal in goals)
    first = default_goal(graph)
    if first is None:
        raise UsageError("No targets")
    return (first,)


def _first_missing(errors: list[NoRuleError]) -> dict[str, NoRuleError]:
    found: dict[str, NoRuleError] = {}
    for error in errors:
        assert error.needed_by is not None
        found.setdefault(error.needed_by, error)
    return found


_EXECUTORS = ("process", "thread", "dask")


def _executor_kind(
    executor: object, scheduler: str | None, scheduler_file: str | os.PathLike[str] | None
) -> str:
    """ "process", "thread", "dask", or "instance" (an Executor of the caller's)."""
    if isinstance(executor, str):
        if executor not in _EXECUTORS:
            raise UsageError(f"Unknown executor '{executor}': choose process, thread or dask.")
        kind = executor
    elif executor is None:
        kind = "dask" if scheduler or scheduler_file else "process"
    else:  # a Dask Client or ClientExecutor, recognised without importing distributed
        kind = "dask" if type(executor).__module__.split(".")[0] == "distributed" else "instance"
    if scheduler and scheduler_file:
        raise UsageError("Give a Dask scheduler address or a scheduler file, not both.")
    if (scheduler or scheduler_file) and kind != "dask":
        raise UsageError(f"A Dask scheduler needs the dask executor (got '{kind}').")
    method = os.environ.get("MINIMAKE_START_METHOD")
    if kind == "process" and method:
        _check_start_method(method)
    return kind


def _check_start_method(method: str | None) -> None:
    """MINIMAKE_START_METHOD, checked before anything runs rather than deep in the pool."""
    import multiprocessing

    methods = multiprocessing.get_all_start_methods()
    if method and method not in methods:
        raise UsageError(
            f"MINIMAKE_START_METHOD is '{method}': choose {', '.join(methods[:-1])} "
            f"or {methods[-1]}."
        )


def _runner(
    graph: Graph,
    selected: set[str],
    disk: Disk,
    jobs: int,
    pretend: bool,
    touch: bool,
    executor: object,
    variables: dict[str, str],
    remote: dict[str, Any] | None = None,
    ignore_errors: bool = False,
    silent: bool = False,
    trigger: Mapping[str, str] | None = None,
    started: Callable[[str, int], None] | None = None,
    preload: tuple[str, ...] = (),
) -> Runner:
    if pretend:
        return DryTouchRunner() if touch else DryRunner()
    if touch:
        return TouchRunner(disk)
    in_process = isinstance(executor, ThreadPoolExecutor) or executor == "thread"
    dumps: Callable[[Any], bytes] = pickle.dumps
    if remote is not None:
        from minimake import dask

        dumps = dask.dumps  # by value: a worker may not be able to import the recipe's module
    payloads = {} if in_process else _payloads(graph, selected, dumps)
    trigger = trigger or {}
    names = tuple(sorted(variables.items()))
    env = tuple(variables.items())
    # On Dask, output is captured where the recipe runs and comes back as text.
    capture = _lazy_capture(disk.root) if remote is None else lambda: Capture(None, False)

    def spec_of(task: Task) -> RecipeSpec:
        outputs = task.outputs
        if isinstance(task.recipe, (str, tuple)):
            commands = (task.recipe,) if isinstance(task.recipe, str) else task.recipe
            return ShellSpec(
                task.name,
                disk.root,
                commands,
                capture(),
                env=(*env, *_automatic(task, trigger.get(task.name))),
                lists=_lists(task),
                outputs=outputs,
                ignore_errors=ignore_errors,
                where=where(task) if ignore_errors else "",
                echo=not silent,
            )
        if in_process:
            call = (task.recipe, task.args, task.keyword_arguments)
            return PythonSpec(task.name, disk.root, capture(), outputs, call=call)
        if task.source is not None:
            return PythonSpec(
                task.name, disk.root, capture(), outputs, source=task.source, variables=names
            )
        return PythonSpec(task.name, disk.root, capture(), outputs, payload=payloads[task.name])

    if remote is not None:
        return dask.DaskRunner.open(spec_of, disk.root, **remote)
    if executor == "thread":
        return LocalRunner(spec_of, ThreadPoolExecutor(jobs), root=disk.root, started=started)
    if isinstance(executor, Executor):
        return LocalRunner(spec_of, executor, root=disk.root, started=started)

    def pool() -> Executor:
        from minimake.pool import process_pool  # multiprocessing only once a recipe needs it

        return process_pool(jobs, spawned=started, preload=preload)

    # Each shell recipe's group, and each pool worker's (it leads one), goes to the journal as
    # it starts, so that a run after this one dies can stop what it left running.
    return LocalRunner(spec_of, pool, root=disk.root, started=started)


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
    graph: Graph, selected: set[str], dumps: Callable[[Any], bytes] = pickle.dumps
) -> dict[str, bytes]:
    """Pickle the Python recipes built in code now, so one that cannot reach a worker process
    is reported before anything runs (tasks from a tasks file are re-imported there instead)."""
    payloads = {}
    for name in sorted(selected, key=graph.order.__getitem__):
        task = graph.tasks[name]
        if callable(task.recipe) and task.source is None:
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


def _report_goals(
    graph: Graph, goals: Sequence[str], result: BuildResult, reporter: Reporter, keep_going: bool
) -> None:
    """make's closing line per goal: nothing to do, up to date, or not remade.

    As in make, a goal is judged by the work done for it alone: the tasks an earlier goal
    already needed (the same task named twice, the other target of a grouped task, a dep of
    an earlier goal) were done before it, and count as nothing done for it.
    """
    # When nothing at all worked (a null build), no goal needs a walk through what it needs.
    any_work = any(r.status in _WORKED and r.has_recipe for r in result.tasks.values())
    seen: set[str] = set()
    new: set[str] = set()
    for goal in goals:
        name = graph.task_of(goal)
        if name is None:  # an existing plain file
            reporter.goal_done(goal, result, phony_or_no_recipe=True)
            continue
        if any_work:
            under = select(graph, [name])
            new, seen = under - seen, seen | under
        own = result.tasks[name]
        if own.status in (Status.FAILED, Status.SKIPPED):
            # make says "not remade" when something the goal needs failed, not its own recipe.
            if keep_going and (own.status is Status.SKIPPED or own.outcome is None):
                reporter.not_remade(goal)
            continue
        # Tasks that -o left out of the build have no result, and did no work.
        done = (result.tasks.get(n) for n in new)
        worked = any(r is not None and r.status in _WORKED and r.has_recipe for r in done)
        if not worked:
            task = graph.tasks[name]
            reporter.goal_done(goal, result, task.phony or task.recipe is None)


if TYPE_CHECKING:
    from distributed import Client

__all__ = ["BuildInterrupted", "build"]
