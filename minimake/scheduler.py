"""The build loop: start ready tasks as their deps finish, at most ``jobs`` at a time."""

from __future__ import annotations

import contextlib
import gc
import signal
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from concurrent.futures import Future
from typing import TYPE_CHECKING, Protocol

import attrs

from minimake.disk import PHONY, REMADE, WILL_BE_REMADE, Disk, Stamp, StampKind
from minimake.errors import ExpansionError, NoRuleError
from minimake.events import Reporter
from minimake.graph import Graph, make_order, priorities
from minimake.interrupts import deferred, held, later
from minimake.journal import Journal, NullJournal
from minimake.logs import Logs, log_name
from minimake.plan import Plan
from minimake.recipe_env import ATTEMPT, FAILED_DEPS, write_failed_deps
from minimake.resources import Limits, Units, amounts, environment
from minimake.result import INTERRUPTED, BuildResult, Environment, Outcome, Status, TaskResult
from minimake.results import finished_trial, params_changed, stopped_trial, wants_record
from minimake.rounds import expand, unknown_yet
from minimake.signature import Signature
from minimake.signature import of as signature_of
from minimake.task import Task
from minimake.uptodate import Reason, ReasonKind, why_changed, why_stale

if TYPE_CHECKING:
    from minimake.rounds import Generator


@attrs.define
class Rounds:
    """The expand_after generators of a build that are still to run (by node name), what
    they are told of the command line, and the errors of those that failed while planning."""

    generators: dict[str, Generator] = attrs.Factory(dict)
    variables: Mapping[str, str] = attrs.Factory(dict)
    failures: dict[str, ExpansionError] = attrs.Factory(dict)
    root: str = "."  # the build's folder, through which generators reach their triggers


def _discard(outcome: Outcome) -> None:
    if outcome.captured is not None:
        outcome.captured.discard()


class Runner(Protocol):
    """Carries out started tasks; every Future it returns resolves to an Outcome, never raises."""

    status: Status  # what a task that succeeded under this runner is reported as
    pretends: bool  # dependents must assume its targets became new (make's -n/-q/-t rule)
    # -t: recipes give way to touching targets, so a phony task, with none, does nothing and
    # counts as a task with no recipe ("Nothing to be done", as make).
    touches: bool
    # How many tasks it runs at once by itself, the -j of a build that sets none (ninja's
    # CanRunMore): a Dask cluster's worker threads; 1, make's default, elsewhere.
    capacity: int
    # Whether stop() ends every recipe it runs: nothing stops a Python recipe's thread, so
    # an interrupted build waits for those (a recipe still writing must not be trusted).
    can_stop: bool

    def echo(self, task: Task) -> list[str]: ...
    def start(self, task: Task, env: Environment = ()) -> Future[Outcome]:
        """Start the task's recipe with ``env`` added to the environment it runs in (what this
        one run of it is told: its attempt, its job slot, the resource names it holds)."""

    def halt(self) -> None:
        """The build stops after a failure (no -k): the scheduler starts nothing more and waits
        for what runs, which a runner may end early where waiting costs much."""

    def stop(self, signum: int) -> None: ...
    def wait(
        self, futures: Collection[Future[Outcome]], timeout: float | None = None
    ) -> Collection[Future[Outcome]]:
        """Block until one of ``futures`` is done, or ``timeout`` seconds pass; the done ones.
        The runner waits, not the scheduler, so that one that completes recipes in the
        waiting thread (minimake's own shell executor) does so without a thread of its own."""

    def close(self, cancel: bool = False) -> None: ...


class BuildInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM (or a closed stdout, SIGPIPE) stopped the build.

    ``signum`` is the signal; ``results`` maps each task decided so far to its TaskResult
    (the recipes the interrupt stopped are FAILED, ``error`` "interrupted"); ``result`` is the
    same as a BuildResult with ``interrupted`` set, once ``minimake.build`` has added it.

    ``left`` names the recipes still running when the build gave up waiting for them (a
    recipe's thread cannot be stopped): marked interrupted in the journal, never ended, and
    the process that holds their threads must end without waiting for them.
    """

    def __init__(
        self, results: dict[str, TaskResult], signum: int, left: tuple[str, ...] = ()
    ) -> None:
        super().__init__(signum)
        self.results, self.signum, self.left = results, signum, left
        self.result: BuildResult | None = None


@attrs.frozen
class Settings:
    """The knobs of one build loop."""

    jobs: int = 1
    always_make: bool = False
    keep_going: bool = False
    ignore_errors: bool = False
    resources: Limits = attrs.field(default=(), converter=amounts)  # --resource limits
    triggers: tuple[str, ...] = ("mtime",)  # --rerun-triggers, for tasks that set none
    retries: int = 0  # --retries, for tasks that set none


@attrs.define
class _Running:
    task: Task
    reason: Reason
    before: dict[str, int | None]  # the targets' mtimes before the recipe, to see what it changed
    started: float
    attempt: int = 1  # which run of the recipe this is: 2 is its first retry (--retries)
    slot: str = ""  # its job slot (MINIMAKE_SLOT), free again when it is done


# Statuses read once per task: a member read through its Enum class costs a call of the
# metaclass's attribute hook (Python 3.11).
_UP_TO_DATE = Status.UP_TO_DATE
_BLOCKING = (Status.FAILED, Status.SKIPPED)  # what its dependents cannot run after
_ON_DISK = frozenset({StampKind.FILE, StampKind.MISSING})  # stamps that say what a file is
# Lines of a failed task's output kept for the failure report.
TAIL_LINES = 10
# Seconds an interrupted recipe's group gets to end after the signal, and again after SIGKILL.
GRACE = 2.0
# How often a wait for recipes that cannot be stopped looks for a further signal.
POLL = 0.1


class Scheduler:
    """One build over the selected part of a graph (per-run state lives here, not in the model)."""

    def __init__(
        self,
        graph: Graph,
        selected: set[str],
        disk: Disk,
        runner: Runner,
        reporter: Reporter,
        settings: Settings,
        missing: Mapping[str, NoRuleError] | None = None,
        journal: Journal | None = None,
        rounds: Rounds | None = None,
        goals: Sequence[str] = (),
    ) -> None:
        self.graph, self.disk, self.runner, self.reporter = graph, disk, runner, reporter
        self.goals = goals  # the targets named, in order: make's order follows them
        self.settings = settings
        self.journal = journal or NullJournal()
        self.selected = selected
        # What is left once the scan has decided every task that is up to date (run()).
        self.plan = Plan(graph, set(), {}, dict(settings.resources))
        self.results: dict[str, TaskResult] = {}
        self.stamps: dict[str, Stamp] = {}  # what dependents see of each finished task's targets
        self.missing = dict(missing or {})
        self.running: dict[Future[Outcome], _Running] = {}
        # The reason of each task decided to run that waits in the plan for resources.
        self.held: dict[str, Reason] = {}
        # Console tasks (task(console=True)) run alone: those ready while others run wait
        # here, and nothing else starts while one waits or runs.
        self.console: list[tuple[Task, Reason, Mapping[str, Stamp] | None]] = []
        self.console_running = False
        # The scan's verdict on each task it found stale, kept until the plan hands it out:
        # nothing it read (cached stamps, the journal) changes before then.
        self.stale: dict[str, tuple[dict[str, Stamp], Reason]] = {}
        # Failed tasks' logs, for a runner that really runs recipes.
        self.logs = None if runner.pretends else Logs(disk.root)
        # Whether any task has failed or been skipped: until one has, nothing can be blocked,
        # and the per-task look through every dep's result is skipped.
        self.blocking = False
        # The job slots free now: each running recipe holds one (MINIMAKE_SLOT), lowest first.
        self.slots = Units([str(slot) for slot in range(settings.jobs)])
        # The expand_after generators still to run, and whether one failed (the build stops).
        self.rounds = rounds or Rounds()
        self.expansion_failed = False

    def run(self) -> dict[str, TaskResult]:
        """Build, returning every selected task's result; raises BuildInterrupted on a signal,
        and the journal's JournalError, once the recipes running are over, when it could not
        be written."""
        if self.journal.failure is not None:  # before anything starts
            raise self.journal.failure
        try:
            self._loop()
        except (KeyboardInterrupt, BrokenPipeError) as interrupt:
            # A closed stdout stops the build as SIGPIPE stops make: every recipe with it.
            default = signal.SIGPIPE if isinstance(interrupt, BrokenPipeError) else signal.SIGINT
            signum = getattr(interrupt, "signum", default)
            left = self._stopped(signum)
            raise BuildInterrupted(self.results, signum, left) from None
        except BaseException:
            # Anything else that breaks the loop (a reporter that cannot write) must not
            # leave a recipe running, nor its half-written target looking finished.
            self._stopped(signal.SIGTERM)
            raise
        self.runner.close(cancel=bool(self.running))
        if self.journal.failure is not None:
            raise self.journal.failure
        return self.results

    def _stopped(self, signum: int) -> tuple[str, ...]:
        """Stop every recipe and clean up, whatever signals come meanwhile (one signal, one
        clean-up); the tasks left running, as _interrupt says."""
        with held():
            try:
                left = self._interrupt(signum)
            finally:
                self.runner.close(cancel=True)
        return left

    def _loop(self) -> None:
        # The cycle collector runs while the loop waits for recipes, not while it decides:
        # deciding keeps every result, and collecting then walks the whole graph again each
        # time the heap grows by a quarter (a tenth of a 50,000-task null build).
        collecting = gc.isenabled()
        gc.disable()
        try:
            rest = self._scan()
            limits = dict(self.settings.resources)
            order = make_order(self.graph, self.goals, rest, self._assumed_old())
            self.plan = Plan(self.graph, rest, self._urgency(self.graph, rest), limits, order)
            self._steps(collecting)
        finally:
            if collecting:
                gc.enable()

    def _urgency(self, graph: Graph, names: set[str]) -> dict[str, float] | None:
        """With more than one job, ninja's rule: the longest chain of work first. With one the
        order changes no wall time, and make's is kept (None)."""
        if self.settings.jobs > 1:
            return priorities(graph, names, self.journal.durations)
        return None

    def _assumed_old(self) -> Callable[[str], bool] | None:
        """Whether a task's targets are -o's old files (None without -o: nothing to ask)."""
        if not self.disk.assumes_old:
            return None
        tasks, assumed_old = self.graph.tasks, self.disk.assumed_old
        return lambda name: assumed_old(tasks[name].outputs)

    def stale_tasks(self) -> set[str]:
        """The selected tasks that are not up to date, or wait for one that is not (the scan
        alone, as -n would find them; nothing runs)."""
        return self._scan()

    def _scan(self) -> set[str]:
        """Decide, in one walk in dependency order, every task that is up to date while all it
        needs is (ninja's dirty scan before its plan); the rest, for the plan to hand out.

        A task that needs one of the rest waits for it in the plan, as it always did: what a
        recipe leaves behind (make's restat) can still make it up to date. A null build
        never reaches the plan, and its heap and counts are never paid for.
        """
        rest: set[str] = set()
        selected, missing, tasks = self.selected, self.missing, self.graph.tasks
        needs = self.graph.needs_of_each()
        # make's -o: an old file's task is not remade and waits for nothing it needs.
        old = self._assumed_old()
        for name in self.graph.sorted_names:
            if name not in selected:
                continue
            waits = rest and not rest.isdisjoint(needs[name]) and not (old and old(name))
            if waits or name in missing:
                rest.add(name)
                continue
            task = tasks[name]
            targets = self._targets(task)
            reason = self._why(task, targets)
            if reason is None:
                self._up_to_date(task, targets)
            else:  # started when the plan hands it out
                self.stale[name] = (targets, reason)
                rest.add(name)
        return rest

    def _steps(self, collecting: bool) -> None:
        stopping = False
        plan, jobs = self.plan, self.settings.jobs
        while True:
            if self.console and not self.running and not stopping:
                self.console_running = True
                self._start(*self.console.pop(0))
            while (
                plan.has_ready()
                and len(self.running) < jobs
                and not stopping
                and not (self.console or self.console_running)
            ):
                name = plan.pop()
                reason = self.held.pop(name, None) if self.held else None
                if reason is None:
                    self._decide(name)
                else:  # decided before, and now holding the resources it waited for
                    self._start(self.graph.tasks[name], reason)
                if self.journal.failure is not None:  # a full disk: no recipe is safe to start
                    stopping = self._halt()
                if self.expansion_failed and not (stopping or self.settings.keep_going):
                    stopping = self._halt()
            if not self.running:
                if stopping or not (plan.has_ready() or self.console):
                    break
                continue
            # A pretending runner (-n, -q, -t) hands back futures that are already done:
            # take them without wait()'s locking, once per task of a 100,000-task -n.
            finished: Iterable[Future[Outcome]] = [f for f in self.running if f.done()]
            if not finished:
                if collecting:
                    gc.enable()
                finished = self.runner.wait(self.running)
                gc.disable()
            for future in finished:
                # Once the build stops at a failure, nothing starts again: no retry either.
                done = self.running.pop(future)
                if done.task.console:
                    self.console_running = False
                ok = self._finish(done, future.result(), not stopping)
                if not (ok or stopping or self.settings.keep_going):
                    stopping = self._halt()
            if self.journal.failure is not None and not stopping:
                stopping = self._halt()
        self._never_started()

    def _halt(self) -> bool:
        """Start nothing more; the recipes running finish. True, for the loop's ``stopping``."""
        self.runner.halt()
        if self.running:  # make says it once, when the build starts to stop
            self.reporter.waiting()
        return True

    def _decide(self, name: str) -> None:
        """Skip, call up to date, or start a ready task."""
        task = self.graph.tasks[name]
        has_recipe = task.recipe is not None
        blocker = self._blocker(task) if self.blocking and not task.allow_failed_deps else None
        if blocker is not None:
            self._record(
                TaskResult(name, Status.SKIPPED, blocked_by=blocker, has_recipe=has_recipe)
            )
            return
        if self.rounds.generators and name in self.rounds.generators:
            self._expand(name)
            return
        if self.missing and name in self.missing:
            error = self.missing[name]
            self.reporter.missing(error)
            self._record(TaskResult(name, Status.FAILED, error=str(error), has_recipe=has_recipe))
            return
        verdict = self.stale.pop(name, None)
        reason: Reason | None
        fresh: Mapping[str, Stamp] | None = None  # the targets as stat'ed just now
        if verdict is not None:
            targets, reason = verdict
        else:
            targets = fresh = self._targets(task)
            reason = self._why(task, targets)
        if reason is None and task.allow_failed_deps and self.blocking:
            # Its failed deps' targets were deleted or left old: no mtime says that it must
            # run, yet it runs to report on what succeeded.
            failed = self._failed_deps(task)
            reason = Reason(ReasonKind.DEP_FAILED, failed[0]) if failed else None
        if reason is None:
            self._up_to_date(task, targets)
            self.plan.done(name)
            return
        if task.recipe is None or (task.phony and self.runner.touches):
            self._kept(task, targets)
            self._record(TaskResult(name, self.runner.status, reason=reason, has_recipe=False))
            return
        if not self.plan.reserve(name):
            self.held[name] = reason  # the plan hands it out again once enough is given back
            return
        if task.console and not self.runner.pretends:
            if self.running or self.console:  # it waits for the others to end
                self.console.append((task, reason, fresh))
                return
            self.console_running = True
        self._start(task, reason, fresh)

    def _expand(self, name: str) -> None:
        """Run the generator of node ``name``, whose triggers are done, and plan what it
        declares as if declared from the start; under -n, -q and -t only say what is not
        known yet (no recipe ran to make its triggers)."""
        generator = self.rounds.generators.pop(name)
        if self.runner.pretends:
            declared = self.journal.expansions.get(generator.name)
            self.reporter.not_known_yet(unknown_yet(generator, declared))
            for path in generator.produces:  # what waits for it waits for new files
                self.stamps[path] = WILL_BE_REMADE
            self._record(TaskResult(name, self.runner.status, has_recipe=False))
            return
        try:
            failure = self.rounds.failures.get(name)
            if failure is not None:  # it raised while the build was planned: once per build
                raise failure
            grown = expand(
                self.graph,
                generator,
                self.rounds.variables,
                self.disk.exists,
                keep_node=True,
                root=self.rounds.root,
            )
        except ExpansionError as error:
            self.expansion_failed = True
            self.reporter.warning(f"*** {error}")
            self._record(TaskResult(name, Status.FAILED, error=str(error), has_recipe=False))
            return
        self.journal.expanded(generator.name, len(grown.added))
        self.graph = grown.graph
        added = set(grown.added)
        self.selected |= added
        self.rounds.generators.update(grown.generators)
        self.plan.extend(grown.graph, added, self._urgency(grown.graph, added))
        self.reporter.grew(sum(1 for name in added if grown.graph.tasks[name].recipe is not None))
        self._record(TaskResult(name, self.runner.status, has_recipe=False))

    def _targets(self, task: Task) -> dict[str, Stamp]:
        """Each of the task's targets with its stamp on disk."""
        stamp = self.disk.stamp
        if len(task.targets) == 1:  # nearly every task: no comprehension to call
            return {task.targets[0]: stamp(task.targets[0])}
        return {path: stamp(path) for path in task.targets}

    def _why(self, task: Task, targets: Mapping[str, Stamp]) -> Reason | None:
        """Why the task must run, now that all it needs is done; None when it is up to date."""
        # make's -o: "do not remake the file even if it is older than its prerequisites".
        if self.disk.assumes_old and self.disk.assumed_old(task.outputs):
            return None
        marker = self.journal.markers.get(task.name)
        reason = why_stale(
            task,
            targets,
            self._dep_stamps(task),
            always_make=self.settings.always_make,
            interrupted=marker.pid if marker is not None else None,
            in_progress=marker is not None and marker.live,
        )
        if reason is None and len(triggers := task.rerun_triggers or self.settings.triggers) > 1:
            if "recipe" in triggers:
                reason = self._recipe_changed(task)
            if reason is None and "params" in triggers:
                reason = self._params_changed(task)
        return reason

    def _up_to_date(self, task: Task, targets: Mapping[str, Stamp]) -> None:
        self.stamps.update(targets)
        self._note(TaskResult(task.name, _UP_TO_DATE, has_recipe=task.recipe is not None))

    def _start(self, task: Task, reason: Reason, fresh: Mapping[str, Stamp] | None = None) -> None:
        """Start the task's recipe; ``fresh``: its targets' stamps, when they were read just
        now, which spares stat-ing them again."""
        name = task.name
        self.reporter.started(task, reason, self.runner.echo(task))
        # What the recipe may change, to delete it if it fails; nothing runs when pretending.
        before = {} if self.runner.pretends else self._mtimes(task.outputs, fresh or {})
        if self.runner.pretends:  # nothing runs: no journal, and no environment to tell
            slot = self.slots.take_one()
            future = self.runner.start(task)
            self.running[future] = _Running(task, reason, before, time.perf_counter(), slot=slot)
            return
        # A signal between the start and the note of it would leave the recipe unstopped.
        with deferred:
            self.journal.started(name, before)
            slot = self.slots.take_one()
            future = self.runner.start(task, self._environment(task, slot))
            self.running[future] = _Running(task, reason, before, time.perf_counter(), slot=slot)

    def _environment(self, task: Task, slot: str, attempt: int = 1) -> Environment:
        """What the task's recipe is told of this run of it, beside its own variables: its job
        slot (GNU parallel's ``{%}``, from 0), the names it holds (``CUDA_VISIBLE_DEVICES``),
        which attempt it is, and for a task that allows failed deps, the file that names them."""
        if self.runner.pretends:
            return ()  # nothing runs
        told: Environment = (("MINIMAKE_SLOT", slot), (ATTEMPT, str(attempt)))
        held = self.plan.held(task.name)
        if held:
            told += environment(held)
        if task.allow_failed_deps:
            told += ((FAILED_DEPS, self._failed_deps_file(task)),)
        return told

    def _failed_deps_file(self, task: Task) -> str:
        """The file that tells a task that allows failed deps which of them failed."""
        failed = self._failed_deps(task) if self.blocking else []
        try:
            return write_failed_deps(self.disk.root, log_name(task.name), failed)
        except OSError as error:
            self.reporter.warning(
                f"warning: cannot tell '{task.name}' its failed deps: {error.strerror}"
            )
            return ""

    def _failed_deps(self, task: Task) -> list[str]:
        """The deps of ``task`` (as it names them) whose task failed or was skipped."""
        failed = []
        for dep in task.all_deps:
            producer = self.graph.task_of(dep)
            result = self.results.get(producer) if producer is not None else None
            if result is not None and result.status in _BLOCKING:
                failed.append(dep)
        return failed

    def _mtimes(self, paths: Iterable[str], fresh: Mapping[str, Stamp]) -> dict[str, int | None]:
        """Each path's mtime now (None: missing), from ``fresh`` where it says (-W and -o
        stamps say nothing of the file itself)."""
        mtimes = {}
        for path in paths:
            stamp = fresh.get(path)
            if stamp is not None and stamp.kind in _ON_DISK:
                mtimes[path] = stamp.mtime  # None for a missing file
            else:
                mtimes[path] = self.disk.actual(path)
        return mtimes

    def _recipe_changed(self, task: Task) -> Reason | None:
        """What changed in an up-to-date task's recipe since it last finished, if anything."""
        current = signature_of(task)
        recorded = self.journal.signature(task.name)
        if recorded is None and current is not None and not self.runner.pretends:
            # Built before its signature was kept: adopt the recipe it is up to date with.
            self.journal.finished(task.name, None, current.dumps())
        return why_changed(recorded, current)

    def _params_changed(self, task: Task) -> Reason | None:
        """What changed in an up-to-date task's declared params since it last finished; a
        task never recorded has no change to show (as a recipe without a signature)."""
        recorded = self.journal.trial(task.name)
        if recorded is None:
            return None
        change = params_changed(recorded.params, task.params)
        if change is None and recorded.unsettled:
            # A run with these params failed or was stopped: what its targets hold (an older
            # run's, left unchanged) does not answer them, as a recipe's signature is kept
            # only when it succeeds.
            change = f"params: the last run with them {recorded.unsettled}"
        return Reason(ReasonKind.PARAMS_CHANGED, change=change) if change is not None else None

    def _blocker(self, task: Task) -> str | None:
        for dep in task.all_deps:
            producer = self.graph.task_of(dep)
            # A plain file, or a task left out of the build (its dependent was named by -o).
            result = self.results.get(producer) if producer is not None else None
            if result is None:
                continue
            if result.status is Status.FAILED:
                return producer
            if result.status is Status.SKIPPED:
                return result.blocked_by
        return None

    def _dep_stamps(self, task: Task) -> list[tuple[str, Stamp]]:
        stamps, known = [], self.stamps
        for dep in task.deps:
            stamp = known.get(dep)
            if stamp is None:  # a plain file that no task writes: one Stamp for all its readers
                stamp = known[dep] = self.disk.stamp(dep)
            stamps.append((dep, stamp))
        return stamps

    def _remade(self, task: Task, seen: Mapping[str, int | None] | None = None) -> None:
        """Set what dependents see of a task that ran (or would have)."""
        for path in task.targets:
            if task.phony:
                self.stamps[path] = PHONY
                continue
            if self.runner.pretends:
                self.stamps[path] = WILL_BE_REMADE
                continue
            # make's implicit restat: a recipe that left its target alone does not force others.
            self.disk.forget(path)
            stamp = self.disk.stamp(path)
            # The worker's stat beats ours, which a network file system may serve from a cache.
            mtime = seen.get(path) if seen else None
            if mtime is not None and stamp.kind is StampKind.FILE:
                stamp = Stamp.file(mtime)
            self.stamps[path] = REMADE if stamp.kind is StampKind.MISSING else stamp

    def _kept(self, task: Task, targets: Mapping[str, Stamp]) -> None:
        """What dependents see of a stale task with nothing to run (make's rule): a target that
        exists keeps its stamp, a missing one counts as remade, and a phony one forces them."""
        for path in task.targets:
            stamp = targets[path]
            if task.phony:
                self.stamps[path] = PHONY
            elif stamp.kind is not StampKind.MISSING:
                self.stamps[path] = stamp
            else:
                self.stamps[path] = WILL_BE_REMADE if self.runner.pretends else REMADE

    def _finish(self, running: _Running, outcome: Outcome, retrying: bool = True) -> bool:
        """Record a finished recipe; False when it failed (and the failure counts).
        ``retrying``: whether a failed recipe with retries left may run again now."""
        task = running.task
        seconds = time.perf_counter() - running.started
        ok = outcome.ok or self.settings.ignore_errors
        # No retry once the journal cannot be written: nothing new is safe to start.
        retrying = retrying and self.journal.failure is None
        if not ok and retrying and running.attempt < self._attempts(task):
            self._again(running, outcome, seconds)
            return True
        self.slots.give_back((running.slot,))
        status = self.runner.status if ok else Status.FAILED
        # Half-written targets go first: nothing after this (a log on a full disk) may keep
        # a failed recipe's target looking fresh.
        deleted = [] if ok else self._delete_changed(running)
        result = TaskResult(
            task.name, status, running.reason, seconds, outcome, attempts=running.attempt
        )
        held = self.plan.held(task.name)
        if held:
            result = attrs.evolve(result, held=held)
        if not outcome.ok or running.attempt > 1:  # a retried success keeps every attempt
            result = self._keep_log(task, result)
        elif self.logs is not None:
            self.logs.forget(task.name)
        self.reporter.finished(task, result, ignored=not outcome.ok and ok)
        self._report_deleted(deleted)
        # The capture files go, unless they had to stand in for a log that could not be written.
        if outcome.captured is None or result.log != outcome.captured.stdout:
            _discard(outcome)
        if ok:
            self._remade(task, seen=dict(outcome.mtimes))
            if not self.runner.pretends:
                # The recipe's own time where the executor measured it: a pool worker that was
                # still starting (importing what preload() names) must not teach the journal
                # that its first recipe is slow.
                learned = outcome.seconds if outcome.seconds > 0 else seconds
                self.journal.finished(task.name, learned, _dumps(signature_of(task)))
        elif not self.runner.pretends:
            self.journal.ended(task.name)
        if wants_record(task) and not self.runner.pretends:
            # After the failed recipe's changes were deleted: its metrics are not read.
            spent = outcome.seconds if outcome.seconds > 0 else seconds
            trial = finished_trial(task, ok, round(spent, 6), time.time(), self.disk.root)
            self.journal.recorded(trial)
        self._record(result)
        return ok

    def _attempts(self, task: Task) -> int:
        """How many times the task's recipe may run in all: once, plus its retries."""
        retries = task.retries if task.retries is not None else self.settings.retries
        return 1 + retries

    def _again(self, running: _Running, outcome: Outcome, seconds: float) -> None:
        """A failed attempt with retries left: say so, keep its output in the log, delete what
        it changed (as for a failure), and run the recipe again at once.

        No back-off: a trial's failure is a crash, a flake or a dead worker, not a busy
        service to wait for (GNU parallel and Snakemake retry at once too); a recipe that
        wants a pause reads its attempt and sleeps itself. The task keeps its job slot and its
        resources, and its journal start marker, so kill -9 now still leaves it stale.
        """
        task, attempts = running.task, self._attempts(running.task)
        deleted = self._delete_changed(running)
        result = TaskResult(
            task.name, Status.FAILED, running.reason, seconds, outcome, attempts=running.attempt
        )
        result = self._keep_log(task, result)
        self.reporter.retrying(task, result, attempts)
        self._report_deleted(deleted)
        if outcome.captured is None or result.log != outcome.captured.stdout:
            _discard(outcome)
        attempt = running.attempt + 1
        self.reporter.started(task, running.reason, self.runner.echo(task))
        with deferred:  # as in _start: no signal between the start and the note of it
            future = self.runner.start(task, self._environment(task, running.slot, attempt))
            self.running[future] = attrs.evolve(
                running, started=time.perf_counter(), attempt=attempt
            )

    def _keep_log(self, task: Task, result: TaskResult) -> TaskResult:
        """The task's output kept as its log (appended to the earlier attempts' when it was
        retried), and a failure's last lines for the report."""
        outcome = result.outcome
        assert outcome is not None
        captured = outcome.captured
        if not outcome.ok:
            lines = captured.tail(TAIL_LINES) if captured else outcome.output.splitlines()
            result = attrs.evolve(result, tail=tuple(lines[-TAIL_LINES:]))
        if self.logs is None:
            return result
        try:
            return attrs.evolve(result, log=self.logs.keep(task, result, self._attempts(task)))
        except OSError as error:
            kept = captured.stdout if captured is not None else None
            self.reporter.warning(
                f"warning: cannot write the log of '{task.name}': {error.strerror}"
            )
            return attrs.evolve(result, log=kept)

    def _delete_changed(self, running: _Running) -> list[str]:
        """make's .DELETE_ON_ERROR: remove a target only if the recipe changed it."""
        deleted = []
        for path, before in running.before.items():
            now = self.disk.actual(path)
            # make never deletes a folder, and says nothing of it.
            if (
                now is not None
                and now != before
                and not self.disk.is_dir(path)
                and self._remove(path)
            ):
                deleted.append(path)
            self.disk.forget(path)
        return deleted

    def _remove(self, path: str) -> bool:
        try:
            self.disk.remove(path)
        except OSError as error:
            self.reporter.warning(f"warning: cannot delete '{path}': {error.strerror}")
            return False
        return True

    def _report_deleted(self, paths: list[str]) -> None:
        for path in paths:
            self.reporter.deleting(path)

    def _record(self, result: TaskResult) -> None:
        """Note a result of a task the plan handed out, and tell the plan it is done."""
        self._note(result)
        self.plan.done(result.name)

    def _note(self, result: TaskResult) -> None:
        if result.status in _BLOCKING:
            self.blocking = True
        self.results[result.name] = result
        self.reporter.recorded(result)

    def _never_started(self) -> None:
        """Tasks left when the build stopped early are skipped: blocked by the failure they
        depend on, if any; the others (blocked_by None) were simply not started."""
        left = self.plan.remaining()
        if not left:
            return
        for name in self.graph.in_order(left):
            task = self.graph.tasks[name]
            # A task that allows failed deps was not blocked by one: the build stopped first.
            blocker = None if task.allow_failed_deps else self._blocker(task)
            has_recipe = task.recipe is not None
            self.results[name] = TaskResult(
                name, Status.SKIPPED, blocked_by=blocker, has_recipe=has_recipe
            )

    def _interrupt(self, signum: int) -> tuple[str, ...]:
        """Stop every running recipe's process group and delete what they half wrote; the
        tasks still running when a further signal said not to wait for them any more."""
        self.runner.stop(signum)
        self._wait_all(GRACE)
        # Whatever ignored the first signal (a recipe's background job ignores SIGINT) goes now.
        self.runner.stop(signal.SIGKILL)
        self._wait_all(GRACE)
        left = self._unstoppable()
        said: list[tuple[Task, list[str]]] = []
        for future, running in self.running.items():
            name = running.task.name
            self.results[name] = TaskResult(
                name,
                Status.FAILED,
                running.reason,
                error=INTERRUPTED,
                attempts=running.attempt,
                held=self.plan.held(name),
            )
            if future in left:
                # Still writing: its targets stay as they are, its start stays in the journal,
                # and the next run, seeing it interrupted, deletes what it changed then.
                said.append((running.task, []))
                continue
            _discard(future.result())
            said.append((running.task, self._delete_changed(running)))
            self.journal.ended(name)
            if wants_record(running.task):  # --results says it was stopped, not never run
                spent = round(time.perf_counter() - running.started, 6)
                self.journal.recorded(stopped_trial(running.task, spent, time.time()))
        if left:
            self.journal.outlived()
        # Said once all is safe: a reporter that broke the loop (a closed stdout) may break
        # again, and must not keep a target undeleted or a task unrecorded.
        with contextlib.suppress(Exception):
            for task, deleted in said:
                self._report_deleted(deleted)
                self.reporter.interrupted(task)
        return tuple(self.running[future].task.name for future in left)

    def _wait_all(self, seconds: float) -> None:
        """Reap running recipes until every one has ended, or ``seconds`` pass."""
        deadline = time.monotonic() + seconds
        while pending := [future for future in self.running if not future.done()]:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self.runner.wait(pending, timeout=left)

    def _unstoppable(self) -> set[Future[Outcome]]:
        """Wait for the recipes that outlived SIGKILL (a Python recipe in a thread: nothing
        stops a thread), saying so, until they end or a further signal comes; those left."""
        pending = {future for future in self.running if not future.done()}
        if not pending or self.runner.can_stop:
            # Killed, yet not seen to end (a process stuck in the kernel): not recorded as
            # ended, and the next run stops what is left of its group.
            return pending
        signals = later()  # before saying so: a signal sent on reading it must count
        with contextlib.suppress(Exception):  # a broken reporter must not end the wait
            for future in pending:
                self.reporter.warning(
                    f"*** Waiting for '{self.running[future].task.name}', which cannot be "
                    "stopped (signal again to leave it unfinished)...."
                )
        while pending and later() == signals:
            self.runner.wait(pending, timeout=POLL)
            pending = {future for future in pending if not future.done()}
        return pending


def _dumps(signature: Signature | None) -> str | None:
    return signature.dumps() if signature is not None else None
