"""The build loop on its own: a fake runner whose futures the test completes, a fake disk with
a clock it ticks (ninja's FakeCommandRunner and VirtualFileSystem), the whole event log.

Nothing runs and nothing sleeps. The scheduler blocks in ``concurrent.futures.wait`` only when
no task it started has finished; the test stands in for that one call (ninja's WaitForCommand):
it finishes one started task, writing its outputs at the next tick, and hands it back.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from concurrent.futures import FIRST_COMPLETED, Future
from concurrent.futures import wait as real_wait
from pathlib import Path

import pytest

from minimake import Status, Task
from minimake.disk import Disk
from minimake.events import NullReporter
from minimake.graph import build_graph, select
from minimake.journal import NullJournal
from minimake.recipe_env import ATTEMPT, FAILED_DEPS
from minimake.result import Environment, Outcome, TaskResult
from minimake.scheduler import Scheduler, Settings
from minimake.task import describe_recipe
from tests.conftest import RecordingReporter


class FakeDisk(Disk):
    """Files as mtimes in memory, at the time of a clock the test ticks."""

    def __init__(self, root: str) -> None:
        super().__init__(root)
        self.now = 0
        self.files: dict[str, int] = {}

    def tick(self) -> int:
        self.now += 1
        return self.now

    def write(self, *paths: str) -> None:
        """Write ``paths`` at the next tick."""
        self.tick()
        for path in paths:
            self.files[path] = self.now

    def _stat(self, name: str) -> int | None:
        return self.files.get(name)

    def is_dir(self, name: str) -> bool:
        return False

    def remove(self, name: str) -> bool:
        self.forget(name)
        return self.files.pop(name, None) is not None


class FakeRunner:
    """Starts nothing: hands out pending futures and remembers them (ninja's commands_ran_)."""

    status = Status.RAN
    pretends = False
    touches = False
    capacity = 1
    can_stop = True

    def __init__(self) -> None:
        self.started: dict[Future[Outcome], Task] = {}
        self.in_flight: list[int] = []  # how many of its tasks had not finished, at each start
        self.calls: list[str] = []  # what the scheduler told it besides start
        self.envs: list[Environment] = []  # the environment given with each start
        # Which recipe ends when the scheduler waits: the test's choice.
        self.complete: Callable[[Collection[Future[Outcome]]], None] = lambda futures: None

    def echo(self, task: Task) -> list[str]:
        return describe_recipe(task)

    def start(self, task: Task, env: Environment = ()) -> Future[Outcome]:
        self.envs.append(env)
        self.in_flight.append(sum(not future.done() for future in self.started))
        future: Future[Outcome] = Future()
        self.started[future] = task
        return future

    def halt(self) -> None:
        self.calls.append("halt")

    def stop(self, signum: int) -> None:
        self.calls.append(f"stop {signum}")

    def wait(
        self, futures: Collection[Future[Outcome]], timeout: float | None = None
    ) -> set[Future[Outcome]]:
        self.complete(futures)
        done, _ = real_wait(futures, timeout, return_when=FIRST_COMPLETED)
        return set(done)

    def close(self, cancel: bool = False) -> None:
        self.calls.append(f"close cancel={cancel}")


class World:
    """One build of ``tasks`` on the fake disk and runner, recorded by a RecordingReporter.

    Each time the scheduler waits, the task named next in ``order`` (else the one started
    first) finishes: it writes its outputs at the next tick, unless it is in ``failing``,
    when it writes them too (a half-written target) and fails.
    """

    def __init__(self, tmp_path: Path, tasks: list[Task]):
        self.graph = build_graph(tasks)
        self.disk = FakeDisk(str(tmp_path))
        self.runner = FakeRunner()
        self.reporter = RecordingReporter()
        self.failing: set[str] = set()
        self.flaky: dict[str, int] = {}  # how many more times each of these fails, then succeeds
        self.order: list[str] = []
        self.waited: list[int] = []  # how many tasks the scheduler waited on, at each wait
        self.recipe_seconds: dict[str, float] = {}  # the recipe's own time, as a worker says
        self.journal = LearningJournal()
        self.runner.complete = self._complete

    def _complete(self, futures: Collection[Future[Outcome]]) -> None:
        pending = [f for f in self.runner.started if f in set(futures)]
        self.waited.append(len(pending))
        by_name = {self.runner.started[f].name: f for f in pending}
        name = self.order.pop(0) if self.order else self.runner.started[pending[0]].name
        task = self.runner.started[by_name[name]]
        self.disk.write(*task.outputs)
        seconds = self.recipe_seconds.get(name, 0.0)
        ok = name not in self.failing
        if self.flaky.get(name):
            self.flaky[name] -= 1
            ok, seconds = False, 100.0  # a failed attempt: never the time the journal learns
        by_name[name].set_result(Outcome(ok=ok, returncode=1, seconds=seconds))

    def build(self, goals: Iterable[str] = (), **settings: object) -> dict[str, TaskResult]:
        names = list(goals) or list(self.graph.tasks)
        selected = select(self.graph, names)
        self.scheduler = Scheduler(
            self.graph,
            selected,
            self.disk,
            self.runner,  # type: ignore[arg-type]
            self.reporter,
            Settings(**settings),  # type: ignore[arg-type]
            journal=self.journal,
        )
        return self.scheduler.run()


class LearningJournal(NullJournal):
    """Remembers the durations it is told, as the real journal does; writes nothing."""

    def finished(self, name: str, seconds: float | None, signature: str | None) -> None:
        if seconds is not None:
            self.durations[name] = seconds


def sh(name: str, *deps: str, **options: object) -> Task:
    return Task.create(name, deps=list(deps), recipe=f"make {name}", **options)  # type: ignore[arg-type]


@pytest.fixture
def world(tmp_path: Path):  # type: ignore[no-untyped-def]
    return lambda *tasks: World(tmp_path, list(tasks))


def test_a_chain_whose_source_changed_runs_link_by_link(world) -> None:  # type: ignore[no-untyped-def]
    """Given a built chain and a source touched after it, each link runs once its dep has
    been remade, each because the dep it just got is newer."""
    w = world(sh("a", "src"), sh("b", "a"), sh("c", "b"))
    for path in ("src", "a", "b", "c"):
        w.disk.write(path)
    w.disk.write("src")
    results = w.build(["c"])
    assert w.reporter.events == [
        ("started", "a", "'src' is newer than 'a'"),
        ("finished", "a", "ran"),
        ("recorded", "a", "ran"),
        ("started", "b", "'a' is newer than 'b'"),
        ("finished", "b", "ran"),
        ("recorded", "b", "ran"),
        ("started", "c", "'b' is newer than 'c'"),
        ("finished", "c", "ran"),
        ("recorded", "c", "ran"),
    ]
    assert w.disk.files == {"src": 5, "a": 6, "b": 7, "c": 8}
    assert [r.status for r in results.values()] == [Status.RAN] * 3
    assert w.runner.calls == ["close cancel=False"]


def test_an_untouched_chain_is_up_to_date_and_starts_nothing(world) -> None:  # type: ignore[no-untyped-def]
    w = world(sh("a", "src"), sh("b", "a"))
    for path in ("src", "a", "b"):
        w.disk.write(path)
    w.build(["b"])
    assert w.reporter.events == [("recorded", "a", "up_to_date"), ("recorded", "b", "up_to_date")]
    assert w.runner.started == {}
    assert w.waited == []


def test_a_diamond_runs_both_sides_at_once_and_the_top_after_both(world) -> None:  # type: ignore[no-untyped-def]
    """Given -j2, the two sides start together; the right one finishing first starts
    nothing, the top waits for the left one too."""
    w = world(sh("base"), sh("left", "base"), sh("right", "base"), sh("top", "left", "right"))
    w.order = ["base", "right", "left", "top"]
    w.build(["top"], jobs=2)
    assert w.reporter.events == [
        ("started", "base", "'base' does not exist"),
        ("finished", "base", "ran"),
        ("recorded", "base", "ran"),
        ("started", "left", "'left' does not exist"),
        ("started", "right", "'right' does not exist"),
        ("finished", "right", "ran"),
        ("recorded", "right", "ran"),
        ("finished", "left", "ran"),
        ("recorded", "left", "ran"),
        ("started", "top", "'top' does not exist"),
        ("finished", "top", "ran"),
        ("recorded", "top", "ran"),
    ]
    assert w.waited == [1, 2, 1, 1]


def test_keep_going_skips_only_what_needs_the_failed_task(world) -> None:  # type: ignore[no-untyped-def]
    """Given -k and a failing task, its half-written target goes, what needs it is skipped
    without starting, and the task that does not need it still runs."""
    w = world(sh("bad"), sh("after", "bad"), sh("other"), sh("all", "after", "other", phony=True))
    w.failing = {"bad"}
    results = w.build(["all"], keep_going=True)
    assert w.reporter.events == [
        ("started", "bad", "'bad' does not exist"),
        ("finished", "bad", "failed"),
        ("deleting", "bad"),
        ("recorded", "bad", "failed"),
        ("recorded", "after", "skipped"),
        ("started", "other", "'other' does not exist"),
        ("finished", "other", "ran"),
        ("recorded", "other", "ran"),
        ("recorded", "all", "skipped"),
    ]
    assert results["all"].blocked_by == "bad"
    assert "bad" not in w.disk.files
    assert w.runner.calls == ["close cancel=False"]


def test_without_keep_going_a_failure_stops_the_build_and_halts_the_runner(world) -> None:  # type: ignore[no-untyped-def]
    """Given -j2 and a failure while another task runs, make's 'Waiting for unfinished jobs':
    the running one finishes, nothing new starts, and the rest is skipped without events."""
    w = world(sh("bad"), sh("slow"), sh("later"), sh("all", "bad", "slow", "later", phony=True))
    w.failing = {"bad"}
    results = w.build(["all"], jobs=2)
    assert w.reporter.events == [
        ("started", "bad", "'bad' does not exist"),
        ("started", "slow", "'slow' does not exist"),
        ("finished", "bad", "failed"),
        ("deleting", "bad"),
        ("recorded", "bad", "failed"),
        ("waiting",),
        ("finished", "slow", "ran"),
        ("recorded", "slow", "ran"),
    ]
    assert w.runner.calls == ["halt", "close cancel=False"]
    assert {n: (r.status, r.blocked_by) for n, r in results.items()} == {
        "bad": (Status.FAILED, None),
        "slow": (Status.RAN, None),
        "later": (Status.SKIPPED, None),
        "all": (Status.SKIPPED, "bad"),
    }


@pytest.mark.parametrize(("jobs", "in_flight"), [(1, [0] * 6), (2, [0, 1, 1, 1, 1, 1])])
def test_no_more_than_jobs_tasks_are_ever_in_flight(world, jobs, in_flight) -> None:  # type: ignore[no-untyped-def]
    """Given six free tasks, a start never finds -j tasks unfinished already."""
    w = world(*[sh(f"t{i}") for i in range(6)])
    w.build(jobs=jobs)
    assert w.runner.in_flight == in_flight
    assert max(w.waited) == jobs


def test_a_resource_holds_back_a_task_that_runs_but_not_one_up_to_date(world) -> None:  # type: ignore[no-untyped-def]
    """Given gpu=1 and -j3: the second gpu task to run waits for the first, a task without
    the resource passes it, and a gpu task that is up to date never waits for the gpu."""
    gpu = {"gpu": 1}
    w = world(
        sh("g1", resources=gpu),
        sh("g2", resources=gpu),
        sh("done", "src", resources=gpu),
        sh("cpu"),
    )
    w.disk.write("src")
    w.disk.write("done")
    w.build(jobs=3, resources={"gpu": 1})
    # The up-to-date task is decided first, by the scan, before the plan hands out the others.
    assert w.reporter.events == [
        ("recorded", "done", "up_to_date"),
        ("started", "g1", "'g1' does not exist"),
        ("started", "cpu", "'cpu' does not exist"),
        ("finished", "g1", "ran"),
        ("recorded", "g1", "ran"),
        ("started", "g2", "'g2' does not exist"),
        ("finished", "cpu", "ran"),
        ("recorded", "cpu", "ran"),
        ("finished", "g2", "ran"),
        ("recorded", "g2", "ran"),
    ]
    assert w.waited == [2, 2, 1]


def test_the_scan_decides_what_is_up_to_date_and_the_plan_holds_only_the_rest(world) -> None:  # type: ignore[no-untyped-def]
    """ninja's dirty scan: tasks up to date while all they need is are decided before any
    recipe starts, and never handed out by the plan; a task that needs one that runs waits
    for it there, and is then found up to date if the recipe left its target alone."""
    w = world(
        sh("old", "src"),  # up to date
        sh("uses_old", "old"),  # up to date, because what it needs is
        sh("gen", "new"),  # older than its input: runs, and leaves its target as it was
        sh("uses_gen", "gen"),  # newer than gen: up to date once gen has run
    )
    w.disk.write("src")
    w.disk.write("old", "gen")
    w.disk.write("uses_old", "uses_gen")
    w.disk.write("new")
    w.runner.complete = lambda futures: [f.set_result(Outcome(ok=True)) for f in futures]
    results = w.build()
    assert [event[:2] for event in w.reporter.events] == [
        ("recorded", "old"),
        ("recorded", "uses_old"),
        ("started", "gen"),
        ("finished", "gen"),
        ("recorded", "gen"),
        ("recorded", "uses_gen"),
    ]
    assert results["uses_gen"].status is Status.UP_TO_DATE  # make's restat
    with pytest.raises(ValueError, match=r"^task 'old' was not handed out by pop\(\)$"):
        w.scheduler.plan.done("old")
    with pytest.raises(ValueError, match=r"^task 'uses_gen' was already done$"):
        w.scheduler.plan.done("uses_gen")


def test_every_task_is_done_in_the_plan_exactly_once(world) -> None:  # type: ignore[no-untyped-def]
    """After a build the plan has drained; reporting a task done again is refused."""
    w = world(sh("a"), sh("b", "a"))
    w.build()
    assert w.scheduler.plan.finished()
    with pytest.raises(ValueError, match=r"^task 'a' was already done$"):
        w.scheduler.plan.done("a")


def test_the_recording_reporter_records_every_event_of_the_protocol() -> None:
    """An event added to the Reporter protocol (and NullReporter) must be recorded too."""
    events = {name for name in vars(NullReporter) if not name.startswith("_")}
    recorded = {name for name in vars(RecordingReporter) if not name.startswith("_")}
    assert events <= recorded
    assert "__getattr__" not in vars(RecordingReporter)


def test_the_journal_learns_the_recipes_own_time_not_the_wait_for_its_worker(world) -> None:  # type: ignore[no-untyped-def]
    """A worker that was still starting (importing what preload() names) when its first recipe
    came must not make that recipe look slow next time: the journal learns the time the
    executor measured around the recipe itself, and the build's wall where it measured none."""
    w = world(sh("slow_start", "src"), sh("unmeasured", "src"))
    w.disk.write("src")
    w.recipe_seconds["slow_start"] = 0.25
    results = w.build()
    assert w.journal.durations["slow_start"] == 0.25
    assert w.journal.durations["unmeasured"] == results["unmeasured"].seconds


# --- Retries (retries=, --retries) and tasks that allow failed deps


def attempts_told(runner: FakeRunner) -> list[str]:
    """The MINIMAKE_ATTEMPT each start was given, in start order."""
    return [dict(env)[ATTEMPT] for env in runner.envs]


def test_a_failed_attempt_is_deleted_and_run_again_until_one_succeeds(world) -> None:  # type: ignore[no-untyped-def]
    """Given retries=2 and a recipe that fails twice, each failed attempt is said, its
    half-written target deleted, and the recipe started again at once with the next attempt
    number; the third succeeds, and the journal learns that attempt's time."""
    w = world(sh("flaky", retries=2), sh("after", "flaky"))
    w.flaky = {"flaky": 2}
    w.recipe_seconds["flaky"] = 0.5
    results = w.build()
    assert w.reporter.events == [
        ("started", "flaky", "'flaky' does not exist"),
        ("retrying", "flaky", "1 of 3"),
        ("deleting", "flaky"),
        ("started", "flaky", "'flaky' does not exist"),
        ("retrying", "flaky", "2 of 3"),
        ("deleting", "flaky"),
        ("started", "flaky", "'flaky' does not exist"),
        ("finished", "flaky", "ran"),
        ("recorded", "flaky", "ran"),
        ("started", "after", "'after' does not exist"),
        ("finished", "after", "ran"),
        ("recorded", "after", "ran"),
    ]
    assert attempts_told(w.runner) == ["1", "2", "3", "1"]
    assert (results["flaky"].attempts, results["after"].attempts) == (3, 1)
    assert w.journal.durations["flaky"] == 0.5


def test_the_run_setting_gives_retries_to_tasks_that_set_none(world) -> None:  # type: ignore[no-untyped-def]
    """--retries 1 retries a task without its own setting; a task's retries=0 wins over it."""
    w = world(sh("default"), sh("never", retries=0))
    w.flaky = {"default": 1, "never": 1}
    results = w.build(retries=1, keep_going=True)
    assert (results["default"].status, results["default"].attempts) == (Status.RAN, 2)
    assert (results["never"].status, results["never"].attempts) == (Status.FAILED, 1)


def test_a_task_that_always_fails_fails_after_its_last_attempt(world) -> None:  # type: ignore[no-untyped-def]
    """Given -k and retries=2 on a recipe that always fails: three attempts, then the failure
    as without retries, and what needs it is skipped."""
    w = world(sh("bad", retries=2), sh("after", "bad"), sh("other"))
    w.failing = {"bad"}
    results = w.build(keep_going=True)
    assert [e for e in w.reporter.events if e[1:2] == ("bad",)] == [
        ("started", "bad", "'bad' does not exist"),
        ("retrying", "bad", "1 of 3"),
        ("deleting", "bad"),
        ("started", "bad", "'bad' does not exist"),
        ("retrying", "bad", "2 of 3"),
        ("deleting", "bad"),
        ("started", "bad", "'bad' does not exist"),
        ("finished", "bad", "failed"),
        ("deleting", "bad"),
        ("recorded", "bad", "failed"),
    ]
    assert (results["bad"].status, results["bad"].attempts) == (Status.FAILED, 3)
    assert (results["after"].status, results["after"].blocked_by) == (Status.SKIPPED, "bad")
    assert results["other"].status is Status.RAN


def test_once_the_build_stops_at_a_failure_nothing_is_retried(world) -> None:  # type: ignore[no-untyped-def]
    """Given -j2 without -k: one task fails and the build starts to stop; the other's failed
    attempt, which finishes after that, is not run again (make starts nothing more)."""
    w = world(sh("bad"), sh("flaky", retries=2))
    w.failing = {"bad"}
    w.flaky = {"flaky": 1}
    w.order = ["bad", "flaky"]
    results = w.build(jobs=2)
    assert (results["flaky"].status, results["flaky"].attempts) == (Status.FAILED, 1)
    assert "retrying" not in [event[0] for event in w.reporter.events]


def gather_world(world, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Five trials, a gather over them that allows failed deps, and a task after it."""
    trials = [sh(f"t{i}", "src") for i in range(5)]
    gather = sh("table", *(t.name for t in trials), allow_failed_deps=True)
    return world(*trials, gather, sh("report", "table"))


def told_failed(w: World, name: str) -> list[str]:
    """The failed deps the start of ``name`` was told of, read from the file it was given."""
    starts = zip(w.runner.envs, w.runner.started.values(), strict=True)
    (env,) = [env for env, task in starts if task.name == name]
    return Path(dict(env)[FAILED_DEPS]).read_text().splitlines()


def test_under_keep_going_a_gather_runs_after_its_deps_and_is_told_which_failed(
    world, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """Given -k, five trials of which t3 fails, and a gather that allows failed deps: the
    gather starts after every trial has ended, is told t3, and what needs the gather runs."""
    w = gather_world(world, tmp_path)
    w.disk.write("src")
    w.failing = {"t3"}
    results = w.build(keep_going=True)
    started = w.reporter.started_names()
    assert started.index("table") > max(started.index(f"t{i}") for i in range(5))
    assert told_failed(w, "table") == ["t3"]
    assert results["table"].status is Status.RAN
    assert results["report"].status is Status.RAN
    assert results["t3"].status is Status.FAILED


def test_a_gather_that_is_up_to_date_but_for_a_failed_dep_runs_to_say_so(
    world, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """Given a finished build and one trial that now reruns and fails (its target deleted),
    no mtime makes the gather stale: it runs all the same, because t3 failed."""
    w = gather_world(world, tmp_path)
    w.disk.write("src", "t0", "t1", "t2", "t4", "table", "report")
    w.disk.write("t3")
    w.disk.files["t3"] = 0  # older than src: stale
    w.failing = {"t3"}
    w.build(keep_going=True)
    reasons = {e[1]: e[2] for e in w.reporter.events if e[0] == "started"}
    assert reasons == {
        "t3": "'src' is newer than 't3'",
        "table": "'t3' failed",
        "report": "'table' is newer than 'report'",
    }
    assert told_failed(w, "table") == ["t3"]


def test_without_keep_going_a_gather_does_not_run_after_a_failure(world, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Without -k the build stops at the failure as ever: the gather is not started, and
    counts as not started (the build stopped), not as blocked."""
    w = gather_world(world, tmp_path)
    w.disk.write("src")
    w.failing = {"t0"}
    results = w.build()
    assert "table" not in w.reporter.started_names()
    assert (results["table"].status, results["table"].blocked_by) == (Status.SKIPPED, None)


def test_a_gather_whose_deps_all_succeeded_is_told_none(world, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    w = gather_world(world, tmp_path)
    w.disk.write("src")
    w.build(keep_going=True)
    assert told_failed(w, "table") == []
