"""The importable engine: assemble a build once (prepare), run it (execute), return the result."""

from __future__ import annotations

import contextlib
import difflib
import operator
import os
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Executor
from typing import TYPE_CHECKING

import attrs

from minimake.disk import Disk
from minimake.errors import (
    ExpansionError,
    JournalError,
    MinimakeError,
    NoRuleError,
    ReportError,
    UsageError,
)
from minimake.events import NullReporter, Reporter, Tee
from minimake.execution.assemble import make_runner
from minimake.execution.groups import running
from minimake.execution.orphans import VARIABLE as RUN_VARIABLE
from minimake.execution.orphans import stop_orphans
from minimake.gcpause import kept, paused
from minimake.graph import (
    Graph,
    build_graph,
    default_goal,
    missing_inputs,
    requests,
    resolve_goals,
    select,
)
from minimake.graph import triggers as reached_through
from minimake.journal import Journal, NullJournal
from minimake.load import load_generators, load_tasks, load_triggers
from minimake.lock import ProjectLock, live_holder
from minimake.options import Options
from minimake.resources import check as check_resources
from minimake.resources import unlimited, unused
from minimake.result import WORKED, BuildResult, Status, TaskResult
from minimake.rounds import Generator, expand, split, unknown_product
from minimake.scheduler import BuildInterrupted, Rounds, Runner, Scheduler, Settings
from minimake.state import secure
from minimake.task import Task, normal_path


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
    timeout: float | None = None,
    resources: Mapping[str, float | str | Sequence[str]] | None = None,
    timings: bool | str | os.PathLike[str] = False,
    trace: str | os.PathLike[str] | None = None,
    rerun_triggers: Iterable[str] | str | None = None,
    journal: bool = True,
    retries: int = 0,
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
    ({"gpu": 2}) bounds what running tasks may hold at once, beside ``jobs``; a list of
    names ({"gpu": ["0", "1"]}, or "auto" for this machine's GPUs) also hands each task the
    names it holds (``CUDA_VISIBLE_DEVICES``), on the local executors only. ``timeout``
    (seconds) limits each recipe whose task sets no ``timeout`` of its own.

    ``timings`` (True, or a folder) records when each task ran into ``result.timings`` and
    writes the timing page into the folder (True: ``.minimake/timings`` beside the tasks);
    ``trace`` writes the same run to that file as a Chrome trace (both also after an interrupt).

    ``rerun_triggers`` ("mtime,recipe") overrides the tasks file's ``rerun_triggers()``.
    ``journal`` keeps ``.minimake/journal`` (start markers, durations, recipe signatures) and
    takes the folder's lock for a real run; False keeps no memory between runs, as make.
    ``retries`` runs a failed recipe up to that many more times, for tasks that set none.
    """
    file, declared = (tasks, ()) if isinstance(tasks, (str, os.PathLike)) else (None, tasks)
    options = Options(
        file=file,
        tasks=declared,
        root=root,
        goals=goals,
        jobs=jobs,
        dry_run=dry_run,
        question=question,
        touch=touch,
        always_make=always_make,
        keep_going=keep_going,
        ignore_errors=ignore_errors,
        silent=silent,
        what_if=what_if,
        old=old,
        variables=variables,
        resources=resources,
        executor=executor,
        scheduler=scheduler,
        scheduler_file=scheduler_file,
        latency_wait=latency_wait,
        timeout=timeout,
        rerun_triggers=rerun_triggers,
        timings=timings,
        trace=trace,
        journal=journal,
        retries=retries,
    )
    return run(options, reporter or NullReporter())


def run(options: Options, reporter: Reporter) -> BuildResult:
    """Build as ``options`` ask: ``build()`` for a caller that already holds the options."""
    with prepare(options, reporter) as prepared:
        return execute(prepared, reporter)


@attrs.frozen(eq=False)
class Prepared:
    """One build assembled before anything runs: its tasks file loaded once, the graph, the
    goals and the tasks they select, stat'ed once; what ``--explain`` and the build read."""

    options: Options
    graph: Graph
    goals: tuple[str, ...]
    selected: set[str]
    missing: dict[str, NoRuleError]  # per task, the first input it lacks (only under -k)
    disk: Disk
    journal: Journal
    triggers: tuple[str, ...]  # the run's --rerun-triggers, else the tasks file's
    started: float  # perf_counter() when the build began, for its duration
    # The expand_after generators whose triggers were stale while planning (run in the loop).
    rounds: Rounds = attrs.Factory(Rounds)
    # For each task with several targets, the one the goals reach it through (make's $@):
    # its $TARGET, how -n shows it, and what make's messages about it name.
    through: dict[str, str] = attrs.Factory(dict)


@contextlib.contextmanager
def prepare(options: Options, reporter: Reporter) -> Iterator[Prepared]:
    """Load the tasks, build their graph, resolve the goals and select what they need.

    The journal stays open for the ``with`` block, locked for a run that changes files (taken
    before tasks.py is read, so two runs never interleave). Raises MinimakeError for what is
    wrong before anything runs: a cycle, an unknown goal, a missing input (unless -k).
    """
    started = time.perf_counter()
    if options.executor_kind == "process":
        _check_start_method(os.environ.get("MINIMAKE_START_METHOD"))
    root = options.folder
    journal = _journal(root, options.journal, writable=not options.pretend, reporter=reporter)
    with journal as memory, contextlib.ExitStack() as after:
        # Loading, the graph and the first stat of every file allocate objects that all live
        # on: the cycle collector would walk them again each time the heap grew by a quarter.
        with paused():
            triggers = _rerun_triggers(options)
            disk = Disk(root, what_if=options.what_if, old=options.old, warn=reporter.warning)
            graph, rounds = _load_rounds(options, disk, memory, triggers)
            goals = _goals(graph, options.goals)
            if memory.writable:
                _settle(memory, graph, disk, reporter)
            disk = _intermediates(options, graph, goals, disk, triggers, reporter)
            try:
                selected, missing = _select(graph, goals, disk, options.keep_going)
            except NoRuleError as error:  # perhaps a task a generator will declare
                raise unknown_product(error, rounds.generators.values()) from None
            _check_resources(options, graph, selected, reporter)
            # Before the collector is back on, so that its first collection does not walk them.
            after.enter_context(kept())
        through = reached_through(graph, goals)
        yield Prepared(
            options,
            graph,
            goals,
            selected,
            missing,
            disk,
            memory,
            triggers,
            started,
            rounds,
            through,
        )


def _intermediates(
    options: Options,
    graph: Graph,
    goals: Sequence[str],
    disk: Disk,
    triggers: tuple[str, ...],
    reporter: Reporter,
) -> Disk:
    """The disk with the missing targets of intermediate tasks that need not be remade
    treated as make's -o treats them (minimake.intermediate); the same disk when none."""
    if options.always_make or not any(t.intermediate for t in graph.tasks.values()):
        return disk
    from minimake.execution.runners import DryRunner
    from minimake.intermediate import left_missing

    kept = left_missing(
        graph, goals, disk, DryRunner, old=options.old, what_if=options.what_if, triggers=triggers
    )
    if not kept:
        return disk
    old = (*options.old, *kept)
    return Disk(disk.root, what_if=options.what_if, old=old, warn=reporter.warning)


def _check_start_method(method: str | None) -> None:
    """MINIMAKE_START_METHOD, checked before anything runs rather than deep in the pool."""
    if not method:
        return
    import multiprocessing

    methods = multiprocessing.get_all_start_methods()
    if method not in methods:
        raise UsageError(
            f"MINIMAKE_START_METHOD is '{method}': choose {', '.join(methods[:-1])} "
            f"or {methods[-1]}."
        )


def load_graph(options: Options) -> Graph:
    """The graph of the tasks ``options`` name (a tasks file is imported once per process),
    with what its expand_after generators declare once their triggers are up to date."""
    tasks, generators = _declared(options)
    if not generators:
        return build_graph(tasks)
    disk = Disk(options.folder, what_if=options.what_if, old=options.old)
    journal = Journal(options.folder, writable=False) if options.journal else NullJournal()
    try:
        graph, _ = _load_rounds(options, disk, journal, _rerun_triggers(options))
    finally:
        journal.close()
    return graph


def _declared(options: Options) -> tuple[list[Task], dict[str, Generator]]:
    """The declared tasks, with a placeholder per generator, and the generators by node."""
    if options.file is None:
        return split(options.tasks)
    variables = dict(options.variables)
    declared = load_tasks(options.file, variables)
    return split([*declared, *load_generators(options.file, variables)])


def _load_rounds(
    options: Options, disk: Disk, journal: Journal, triggers: tuple[str, ...]
) -> tuple[Graph, Rounds]:
    """The graph, grown by every generator whose triggers are up to date now (round after
    round), and the generators left for the build loop."""
    tasks, generators = _declared(options)
    graph = build_graph(tasks)
    rounds = Rounds(generators, dict(options.variables), root=options.folder)
    while True:
        ready = _ready_generators(graph, rounds, disk, journal, options, triggers)
        if not ready:
            return graph, rounds
        for generator in ready:
            try:
                grown = expand(graph, generator, rounds.variables, disk.exists, False, rounds.root)
            except ExpansionError as error:  # said, once, when the build reaches it
                rounds.failures[generator.node] = error
                continue
            del rounds.generators[generator.node]
            journal.expanded(generator.name, len(grown.added))
            graph = grown.graph
            rounds.generators.update(grown.generators)


def _ready_generators(
    graph: Graph,
    rounds: Rounds,
    disk: Disk,
    journal: Journal,
    options: Options,
    triggers: tuple[str, ...],
) -> list[Generator]:
    """The generators not yet run whose triggers are up to date (as -n would find them)."""
    waiting = [g for g in rounds.generators.values() if g.node not in rounds.failures]
    if not waiting or options.always_make:
        return []
    from minimake.execution.runners import DryRunner

    selected = select(graph, [g.node for g in waiting])
    settings = Settings(triggers=triggers)
    scan = Scheduler(graph, selected, disk, DryRunner(), NullReporter(), settings, None, journal)
    stale = scan.stale_tasks()
    ready = []
    for generator in waiting:
        needs = set(graph.needs(generator.node))
        plain = [t for t in generator.triggers if graph.task_of(t) is None]
        if needs.isdisjoint(stale) and all(map(disk.exists, plain)):
            ready.append(generator)
    return ready


def _rerun_triggers(options: Options) -> tuple[str, ...]:
    """The run's rerun triggers: the command line's, else what the tasks file set with
    ``rerun_triggers()``, else make's rule."""
    if options.rerun_triggers or options.file is None:
        return options.rerun_triggers or ("mtime",)
    return load_triggers(options.file, dict(options.variables)) or ("mtime",)


def _select(
    graph: Graph, goals: Sequence[str], disk: Disk, keep_going: bool
) -> tuple[set[str], dict[str, NoRuleError]]:
    """The tasks the goals need (not what -o's old files need), and the inputs they lack:
    raised unless ``keep_going``, where the tasks that lack one are skipped."""
    exists = disk.exists
    names, _ = resolve_goals(graph, goals, exists, disk.root)
    # Without -o nothing is pruned: no call per task to ask.
    prune = (lambda name: disk.assumed_old(graph.tasks[name].outputs)) if disk.assumes_old else None
    selected = select(graph, names, prune=prune)
    missing = _first_missing(missing_inputs(graph, selected, exists, disk.root))
    if missing and not keep_going:
        raise next(iter(missing.values()))
    return selected, missing


def _check_resources(
    options: Options, graph: Graph, selected: set[str], reporter: Reporter
) -> None:
    """Refuse a task that asks for more than a limit gives; warn, once each, of a resource
    tasks ask for that nothing limits, and of a limit that no task asks for (a typo)."""
    limits = dict(options.resources)
    # One pass in C over the tasks: most builds neither ask nor limit, and look no further.
    if not limits and not any(map(operator.attrgetter("resources"), graph.tasks.values())):
        return
    asks = requests(graph, selected)
    check_resources(asks, limits)
    # On Dask the workers' resources bound what tasks ask for, limit or not.
    if options.executor_kind != "dask":
        for name, task in unlimited(asks, limits).items():
            reporter.warning(
                f"warning: tasks ask for '{name}' (as '{task}' does), but no --resource "
                f"{name}=... limits it: they run without a bound."
            )
    asked = {name for task in graph.tasks.values() for name, _ in task.resources}
    for name in unused(limits, asked):
        close = difflib.get_close_matches(name, sorted(asked), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        reporter.warning(
            f"warning: --resource {name}=... is ignored: no task asks for '{name}'{hint}."
        )


def execute(prepared: Prepared, reporter: Reporter) -> BuildResult:
    """Run the prepared build and say how each goal ended; raises BuildInterrupted on a
    signal, after the summary so far."""
    options, graph, selected = prepared.options, prepared.graph, prepared.selected
    runner = make_runner(prepared, reporter.warning)
    jobs = options.jobs or runner.capacity
    recorder, reporter = _recording(prepared, runner, reporter)
    settings = Settings(
        jobs,
        options.always_make,
        options.keep_going,
        options.ignore_errors,
        options.resources,
        prepared.triggers,
        options.retries,
    )
    loop = Scheduler(
        graph,
        selected,
        prepared.disk,
        runner,
        reporter,
        settings,
        prepared.missing,
        prepared.journal,
        prepared.rounds,
        prepared.goals,
    )
    tasks = graph.tasks
    total = sum(1 for name in selected if tasks[name].recipe is not None)
    through = prepared.through
    reporter.reached({path: through[n] for n in through for path in graph.tasks[n].targets})
    reporter.begin(total, jobs, prepared.journal.durations_of(selected))
    try:
        results = loop.run()
        prepared = _grown(prepared, loop, recorder)
    except BuildInterrupted as stop:
        prepared = _grown(prepared, loop, recorder)
        seconds = time.perf_counter() - prepared.started
        stop.result = BuildResult(stop.results, prepared.goals, seconds, interrupted=True)
        reporter.summary(stop.result)
        _keep_timings_or_warn(recorder, options, reporter)
        raise
    except JournalError:  # the build stopped early: say what ran before the error is said
        seconds = time.perf_counter() - prepared.started
        reporter.summary(BuildResult(loop.results, prepared.goals, seconds))
        _keep_timings_or_warn(recorder, options, reporter)
        raise
    return _finish(prepared, results, recorder, reporter)


def _grown(prepared: Prepared, loop: Scheduler, recorder: Recorder | None) -> Prepared:
    """``prepared`` with the tasks that generators declared in the loop."""
    if loop.graph is prepared.graph:
        return prepared
    if recorder is not None:
        for name in loop.selected - prepared.selected:
            recorder.deps[name] = loop.graph.needs(name)  # type: ignore[index]
    return attrs.evolve(prepared, graph=loop.graph, selected=loop.selected)


def _finish(
    prepared: Prepared,
    results: dict[str, TaskResult],
    recorder: Recorder | None,
    reporter: Reporter,
) -> BuildResult:
    """The build's result, after make's closing lines and the summary."""
    options = prepared.options
    result = BuildResult(results, prepared.goals, time.perf_counter() - prepared.started)
    keep_going = options.keep_going and not options.pretend
    # One goal, with nothing pruned by -o: what it needs is the selection, walked already.
    whole = len(prepared.goals) == 1 and not prepared.disk.assumes_old
    selected = prepared.selected if whole else None
    _report_goals(prepared.graph, prepared.goals, result, reporter, keep_going, selected)
    if prepared.disk.skewed:
        reporter.warning("warning:  Clock skew detected.  Your build may be incomplete.")
    reporter.summary(result)
    return attrs.evolve(result, timings=_keep_timings(recorder, options))


@contextlib.contextmanager
def _journal(root: str, enabled: bool, *, writable: bool, reporter: Reporter) -> Iterator[Journal]:
    """The folder's journal for one build: with its lock held for a run that writes, after
    stopping what a dead run left running; a NullJournal when ``enabled`` is False."""
    if writable:  # before anything is written there, links planted in .minimake go
        secure(root, reporter.warning)
        _clear_dask_folders(root)
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
    inherited = os.environ.get(RUN_VARIABLE)
    try:
        if memory.writable:
            # A dead run's recipes still running are stopped before anything is read.
            stop_orphans(run.token for run in memory.runs)
            memory.runs_over()
            # Every process a recipe of this run starts carries its token (recorded in the
            # journal before the first recipe starts), for the next run to find if this dies.
            os.environ[RUN_VARIABLE] = memory.token
        elif memory.markers:
            memory.beside(live_holder(root))  # -n beside a run in progress
        yield memory
    finally:
        if memory.writable:
            _restore(RUN_VARIABLE, inherited)
        memory.close()
        if lock is not None:
            lock.release()


def _restore(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


def _clear_dask_folders(root: str) -> None:
    """Remove the folders of Dask builds that no longer run (a build killed with -9 never
    removes its own): each is named after the pid of the run that made it."""
    folder = os.path.join(root, ".minimake", "dask")
    try:
        names = os.listdir(folder) if not os.path.islink(folder) else []
    except OSError:
        return  # the common case: no Dask build ever ran here
    import shutil

    for name in names:
        pid = name.partition("-")[0]
        if pid.isdigit() and not running(int(pid)):
            shutil.rmtree(os.path.join(folder, name), ignore_errors=True)


def _settle(journal: Journal, graph: Graph, disk: Disk, reporter: Reporter) -> None:
    """Delete what the recipes of a run that died had changed (make's .DELETE_ON_ERROR, one
    run late; its recipes still alive were stopped first). The interrupted tasks stay marked,
    so they are stale until they finish."""
    for name, marker in list(journal.markers.items()):
        for path, before in marker.before:
            now = disk.actual(path)
            # make never deletes a folder (the scheduler's own deletion skips them too).
            changed = now is not None and now != before and not disk.is_dir(path)
            if graph.task_of(path) == name and changed:
                reporter.deleting(path)
                try:
                    disk.remove(path)
                except OSError as error:
                    reporter.warning(f"warning: cannot delete '{path}': {error.strerror}")
        if marker.before:
            journal.settled(name)
    journal.compact(keep=graph.tasks)


def _recording(
    prepared: Prepared, runner: Runner, reporter: Reporter
) -> tuple[Recorder | None, Reporter]:
    """A Recorder of the build's timings beside ``reporter``, when --timings or --trace ask."""
    options = prepared.options
    if not (options.timings or options.trace):
        return None, reporter
    from minimake.view.recorder import Recorder  # its timings model only when asked for

    # Under -n and -t no recipe runs anywhere: say so rather than name the executor.
    ran = runner.status is Status.RAN
    executor = options.executor_kind if ran else f"none ({runner.status.label})"
    needs = {name: prepared.graph.needs(name) for name in prepared.selected}
    recorder = Recorder(needs, executor)
    return recorder, Tee(recorder, reporter)


def _keep_timings(recorder: Recorder | None, options: Options) -> Run | None:
    """Write the recorded run's page and trace, as asked; returns the record. Raises
    ReportError, after the build's own end was said, when one cannot be written."""
    if recorder is None or recorder.run is None:
        return None
    if options.timings:
        from minimake.view.timings_page import FOLDER, save

        folder = options.timings
        folder = os.path.join(options.folder, FOLDER) if folder is True else os.fspath(folder)
        try:
            save(recorder.run, folder)
        except OSError as error:
            raise _report_error("timing page", folder, error) from error
    if options.trace:
        from minimake.view.chrome_trace import write_trace

        try:
            write_trace(recorder.run, options.trace)
        except OSError as error:
            raise _report_error("trace", os.fspath(options.trace), error) from error
    return recorder.run


def _report_error(what: str, path: str, error: OSError) -> ReportError:
    return ReportError(what, error.filename or path, error.strerror or str(error))


def _keep_timings_or_warn(recorder: Recorder | None, options: Options, reporter: Reporter) -> None:
    """_keep_timings after a build that ends in its own error: a report that cannot be
    written is said, and the build's error stays the one raised."""
    try:
        _keep_timings(recorder, options)
    except ReportError as error:
        reporter.warning(f"*** {error}")


def _goals(graph: Graph, goals: Sequence[str]) -> tuple[str, ...]:
    """The goals as make reads them (`./a` is `a`), or the default goal."""
    if goals:
        return tuple(normal_path(goal) for goal in goals)
    first = default_goal(graph)
    if first is None:
        raise UsageError("No targets.")
    return (first,)


def _first_missing(errors: list[NoRuleError]) -> dict[str, NoRuleError]:
    found: dict[str, NoRuleError] = {}
    for error in errors:
        assert error.needed_by is not None
        found.setdefault(error.needed_by, error)
    return found


def _report_goals(
    graph: Graph,
    goals: Sequence[str],
    result: BuildResult,
    reporter: Reporter,
    keep_going: bool,
    selected: set[str] | None = None,
) -> None:
    """make's closing line per goal: nothing to do, up to date, or not remade. ``selected``:
    what the one goal needs, when the caller has it.

    As in make, a goal is judged by the work done for it alone: the tasks an earlier goal
    already needed (the same task named twice, the other target of a grouped task, a dep of
    an earlier goal) were done before it, and count as nothing done for it.
    """
    # When nothing at all worked (a null build), no goal needs a walk through what it needs.
    # (TaskResult.worked, spelt out: no call per task of a 100,000-task null build.)
    any_work = any(r.status in WORKED and r.has_recipe for r in result.tasks.values())
    seen: set[str] = set()
    new: set[str] = set()
    for goal in goals:
        name = graph.task_of(goal)
        if name is None:  # an existing plain file
            reporter.goal_done(goal, result, phony_or_no_recipe=True)
            continue
        if any_work:
            under = selected if selected is not None else select(graph, [name])
            new, seen = under - seen, seen | under
        own = result.tasks[name]
        if own.status in (Status.FAILED, Status.SKIPPED):
            # make says "not remade" when something the goal needs failed, not its own recipe.
            if keep_going and (own.status is Status.SKIPPED or own.outcome is None):
                reporter.not_remade(goal)
            continue
        # Tasks that -o left out of the build have no result, and did no work.
        done = (result.tasks.get(n) for n in new)
        worked = any(r is not None and r.worked for r in done)
        if not worked:
            task = graph.tasks[name]
            reporter.goal_done(goal, result, task.phony or task.recipe is None)


if TYPE_CHECKING:
    from distributed import Client

    from minimake.record import Run
    from minimake.view.recorder import Recorder

__all__ = ["BuildInterrupted", "build"]
