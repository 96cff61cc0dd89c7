"""The importable engine end to end: build() over Task lists, results, reasons, make's rules."""

from __future__ import annotations

import functools
import gc
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import minimake
from minimake import Status, Task
from minimake.disk import Disk
from minimake.errors import CycleError, NoRuleError, UnpicklableRecipeError
from minimake.execution.runners import LocalRunner
from tests.conftest import RecordingReporter, touch


def sh(name: str, deps: list[str] = (), recipe: str | None = None, **kw) -> Task:  # type: ignore[assignment]
    return Task.create(name, deps=deps, recipe=recipe or f"echo {name} > {name}", **kw)


def build(tmp_path: Path, tasks: list[Task], *goals: str, **options):  # type: ignore[no-untyped-def]
    options.setdefault("reporter", RecordingReporter())
    return minimake.build(tasks, goals, root=tmp_path, **options)


class TestStale:
    def test_missing_targets_are_built_in_dependency_order(self, tmp_path: Path) -> None:
        touch(tmp_path / "src", 0)
        reporter = RecordingReporter()
        tasks = [sh("c", ["b"]), sh("b", ["a"]), sh("a", ["src"])]
        result = build(tmp_path, tasks, "c", reporter=reporter)
        assert result.ok
        assert reporter.started_names() == ["a", "b", "c"]
        assert str(result.tasks["a"].reason) == "'a' does not exist"

    def test_second_build_does_nothing(self, tmp_path: Path) -> None:
        touch(tmp_path / "src", 0)
        tasks = [sh("b", ["a"]), sh("a", ["src"])]
        build(tmp_path, tasks, "b")
        reporter = RecordingReporter()
        result = build(tmp_path, tasks, "b", reporter=reporter)
        assert {r.status for r in result.tasks.values()} == {Status.UP_TO_DATE}
        assert ("goal_done", "b", "False") in reporter.events

    def test_touched_source_rebuilds_the_chain_above_it_only(self, tmp_path: Path) -> None:
        for index, name in enumerate(["src", "other", "a", "b", "x"]):
            touch(tmp_path / name, index)
        tasks = [sh("b", ["a"]), sh("a", ["src"]), sh("x", ["other"])]
        touch(tmp_path / "src", 100)
        result = build(tmp_path, tasks, "b", "x")
        assert [r.name for r in result.with_status(Status.RAN)] == ["a", "b"]
        assert str(result.tasks["a"].reason) == "'src' is newer than 'a'"

    def test_recipe_that_leaves_its_target_alone_does_not_force_dependents(
        self, tmp_path: Path
    ) -> None:
        """make re-stats after each recipe: an unchanged target is not 'newer'."""
        touch(tmp_path / "src", 10)
        touch(tmp_path / "a", 0)
        touch(tmp_path / "b", 5)
        tasks = [Task.create("a", deps=["src"], recipe="true"), sh("b", ["a"])]
        result = build(tmp_path, tasks, "b")
        assert result.tasks["a"].status is Status.RAN
        assert result.tasks["b"].status is Status.UP_TO_DATE

    @pytest.mark.parametrize("touched", [False, True])
    def test_a_failed_recipe_deletes_its_target_only_if_it_changed_it(
        self, tmp_path: Path, touched: bool
    ) -> None:
        """make's .DELETE_ON_ERROR, for a task decided once what it needs has run (its targets
        stat'ed then) as for one the first scan decided."""
        touch(tmp_path / "src", 10)
        for name in ("late", "early"):
            touch(tmp_path / name, 0)
        failing = "touch {0}; exit 1" if touched else "exit 1"
        tasks = [
            sh("mid", ["src"]),
            Task.create("late", deps=["mid"], recipe=failing.format("late")),
            Task.create("early", deps=["src"], recipe=failing.format("early")),
        ]
        result = build(tmp_path, tasks, "late", "early", keep_going=True)
        assert result.tasks["late"].status is result.tasks["early"].status is Status.FAILED
        assert (tmp_path / "late").exists() is not touched
        assert (tmp_path / "early").exists() is not touched

    def test_phony_dep_always_forces(self, tmp_path: Path) -> None:
        touch(tmp_path / "out", 0)
        tasks = [Task.create("force", phony=True), sh("out", ["force"])]
        result = build(tmp_path, tasks, "out")
        assert str(result.tasks["out"].reason) == "'force' is phony"

    def test_order_only_dep_is_built_but_never_compared(self, tmp_path: Path) -> None:
        touch(tmp_path / "out" / "f", 0)
        touch(tmp_path / "out", 50)  # the folder is newer than f: must not matter
        folder = Task.create("out", recipe="mkdir -p out")
        inner = Task.create("out/f", order_only=["out"], recipe="echo f > out/f")
        assert build(tmp_path, [folder, inner], "out/f").tasks["out/f"].status is Status.UP_TO_DATE
        os.rename(tmp_path / "out", tmp_path / "gone")
        result = build(tmp_path, [folder, inner], "out/f")
        assert [r.name for r in result.with_status(Status.RAN)] == ["out", "out/f"]

    def test_stale_recipe_less_target_that_exists_keeps_its_mtime(self, tmp_path: Path) -> None:
        """make: `out: group`, `group: src`, group has no recipe and is older than src, out is
        newer than group: 'out' is up to date (nothing remade group)."""
        touch(tmp_path / "src", 10)
        touch(tmp_path / "group", 5)
        touch(tmp_path / "out", 20)
        tasks = [Task.create("group", deps=["src"]), sh("out", ["group"])]
        result = build(tmp_path, tasks, "out")
        assert str(result.tasks["group"].reason) == "'src' is newer than 'group'"
        assert result.tasks["out"].status is Status.UP_TO_DATE

    def test_missing_recipe_less_target_counts_as_remade(self, tmp_path: Path) -> None:
        touch(tmp_path / "src", 10)
        touch(tmp_path / "out", 20)
        tasks = [Task.create("group", deps=["src"]), sh("out", ["group"])]
        result = build(tmp_path, tasks, "out")
        assert str(result.tasks["out"].reason) == "'group' was remade"


class TestModes:
    def test_dry_run_writes_nothing_and_assumes_remade_targets_are_new(
        self, tmp_path: Path
    ) -> None:
        touch(tmp_path / "src", 10)
        touch(tmp_path / "a", 0)
        touch(tmp_path / "b", 20)
        tasks = [Task.create("a", deps=["src"], recipe="true"), sh("b", ["a"])]
        result = build(tmp_path, tasks, "b", dry_run=True)
        assert [r.name for r in result.with_status(Status.WOULD_RUN)] == ["a", "b"]
        assert str(result.tasks["b"].reason) == "'a' will be remade"
        assert sorted(os.listdir(tmp_path)) == ["a", "b", "src"]
        assert (tmp_path / "b").stat().st_mtime_ns == (1_000_000_020) * 10**9

    def test_touch_touches_only_tasks_with_recipes(self, tmp_path: Path) -> None:
        touch(tmp_path / "src", 10)
        tasks = [sh("a", ["src"]), Task.create("group", deps=["a"]), sh("b", ["group"])]
        result = build(tmp_path, tasks, "b", touch=True)
        touched = [r.name for r in result.with_status(Status.TOUCHED) if r.has_recipe]
        assert touched == ["a", "b"]
        assert (tmp_path / "a").read_text() == ""  # created empty, recipe not run
        assert not (tmp_path / "group").exists()

    def test_always_make(self, tmp_path: Path) -> None:
        touch(tmp_path / "src", 0)
        touch(tmp_path / "a", 10)
        result = build(tmp_path, [sh("a", ["src"])], "a", always_make=True)
        assert str(result.tasks["a"].reason) == "forced by -B"

    def test_what_if_and_old_file(self, tmp_path: Path) -> None:
        for index, name in enumerate(["src", "a", "b"]):
            touch(tmp_path / name, index)
        tasks = [sh("a", ["src"]), sh("b", ["a"])]
        what_if = build(tmp_path, tasks, "b", dry_run=True, what_if=["src"])
        assert [r.name for r in what_if.with_status(Status.WOULD_RUN)] == ["a", "b"]
        touch(tmp_path / "src", 100)
        old = build(tmp_path, tasks, "b", dry_run=True, old=["a"])
        assert old.with_status(Status.WOULD_RUN) == []


class TestFailures:
    def test_keep_going_builds_what_does_not_depend_on_the_failure(self, tmp_path: Path) -> None:
        reporter = RecordingReporter()
        tasks = [
            sh("bad", recipe="echo partial > bad; exit 3"),
            sh("after", ["bad"]),
            sh("sibling"),
            Task.create("all", deps=["after", "sibling"], phony=True),
        ]
        result = build(tmp_path, tasks, "all", keep_going=True, reporter=reporter)
        assert not result.ok
        assert result.tasks["bad"].status is Status.FAILED
        assert result.tasks["bad"].outcome.returncode == 3
        assert result.tasks["sibling"].status is Status.RAN
        assert result.tasks["after"].status is Status.SKIPPED
        assert result.tasks["after"].blocked_by == "bad"
        assert result.tasks["all"].blocked_by == "bad"
        assert ("deleting", "bad") in reporter.events
        assert ("not_remade", "all") in reporter.events
        assert not (tmp_path / "bad").exists()

    def test_without_keep_going_nothing_new_starts_after_a_failure(self, tmp_path: Path) -> None:
        """At -j1 the queued sibling never starts: the rest wait in the scheduler."""
        reporter = RecordingReporter()
        tasks = [
            sh("bad", recipe="exit 1"),
            sh("sibling"),
            Task.create("all", deps=["bad", "sibling"], phony=True),
        ]
        result = build(tmp_path, tasks, "all", reporter=reporter)
        assert reporter.started_names() == ["bad"]
        assert result.tasks["sibling"].status is Status.SKIPPED
        assert result.tasks["sibling"].blocked_by is None  # not started: it does not need bad
        assert result.tasks["all"].blocked_by == "bad"
        assert not (tmp_path / "sibling").exists()

    def test_failed_recipe_keeps_an_untouched_existing_target(self, tmp_path: Path) -> None:
        touch(tmp_path / "src", 10)
        touch(tmp_path / "keep", 0, content="old")
        result = build(tmp_path, [sh("keep", ["src"], recipe="exit 2")], "keep")
        assert result.tasks["keep"].status is Status.FAILED
        assert (tmp_path / "keep").read_text() == "old"

    def test_ignore_errors_counts_failure_as_success(self, tmp_path: Path) -> None:
        tasks = [sh("bad", recipe="echo x > bad; exit 3"), sh("after", ["bad"])]
        result = build(tmp_path, tasks, "after", ignore_errors=True)
        assert result.ok
        assert result.tasks["after"].status is Status.RAN
        assert (tmp_path / "bad").exists()  # an ignored failure is not cleaned up

    def test_list_recipe_stops_at_first_failing_line(self, tmp_path: Path) -> None:
        recipe = ["echo one >> log", "false", "echo three >> log"]
        result = build(tmp_path, [Task.create("x", recipe=recipe)], "x")
        assert result.tasks["x"].status is Status.FAILED
        assert (tmp_path / "log").read_text() == "one\n"

    def test_python_exception_is_a_failure_with_message(self, tmp_path: Path) -> None:
        def boom() -> None:
            raise ValueError("bad input")

        with ThreadPoolExecutor(1) as pool:
            result = build(tmp_path, [Task.create("x", recipe=boom)], "x", executor=pool)
        outcome = result.tasks["x"].outcome
        assert outcome.error == "ValueError: bad input"
        assert "raise ValueError" in outcome.traceback

    def test_missing_input_is_fatal_before_anything_runs(self, tmp_path: Path) -> None:
        tasks = [
            sh("first"),
            sh("needs", ["nosuch.c"]),
            Task.create("all", deps=["first", "needs"], phony=True),
        ]
        with pytest.raises(NoRuleError, match=r"'nosuch\.c', needed by 'needs'"):
            build(tmp_path, tasks, "all")
        assert not (tmp_path / "first").exists()

    def test_missing_input_under_keep_going_blocks_only_its_branch(self, tmp_path: Path) -> None:
        tasks = [
            sh("first"),
            sh("needs", ["nosuch.c"]),
            Task.create("all", deps=["first", "needs"], phony=True),
        ]
        result = build(tmp_path, tasks, "all", keep_going=True)
        assert result.tasks["first"].status is Status.RAN
        assert result.tasks["needs"].status is Status.FAILED
        assert "No rule to make target 'nosuch.c'" in result.tasks["needs"].error

    def test_cycle_is_reported_before_anything_runs(self, tmp_path: Path) -> None:
        with pytest.raises(CycleError):
            build(tmp_path, [sh("a", ["b"]), sh("b", ["a"]), sh("c")], "c")
        assert not (tmp_path / "c").exists()


class TestRecipes:
    def test_shell_sees_targets_and_deps_and_literals_pass_through(self, tmp_path: Path) -> None:
        touch(tmp_path / "in1", 0, "3 x\n1 y\n")
        touch(tmp_path / "in2", 1)
        recipe = (
            'echo "$TARGET|$TARGETS|$DEP|$DEPS" > $TARGET; '
            "awk '{print $1}' $DEP >> out1; echo '{}${HOME+set}' >> out1"
        )
        task = Task.create(["out1", "out2"], deps=["in1", "in2", "in1"], recipe=recipe)
        build(tmp_path, [task], "out1")
        lines = (tmp_path / "out1").read_text().splitlines()
        assert lines == ["out1|out1 out2|in1|in1 in2", "3", "1", "{}${HOME+set}"]

    def test_variables_reach_shell_recipes(self, tmp_path: Path) -> None:
        task = Task.create("out", recipe="echo $GRID > out")
        build(tmp_path, [task], "out", variables={"GRID": "small"})
        assert (tmp_path / "out").read_text() == "small\n"

    def test_recipes_run_in_the_project_folder(self, tmp_path: Path) -> None:
        build(tmp_path, [Task.create("here", recipe="pwd > here")], "here")
        assert (tmp_path / "here").read_text().strip() == str(tmp_path)

    def test_unpicklable_recipe_is_reported_before_the_build(self, tmp_path: Path) -> None:
        tasks = [sh("first"), Task.create("lam", recipe=lambda: None)]
        with pytest.raises(UnpicklableRecipeError, match="'lam'"):
            build(tmp_path, tasks, "first", "lam", jobs=2)
        assert not (tmp_path / "first").exists()

    def test_any_executor_can_be_passed(self, tmp_path: Path) -> None:
        calls: list[str] = []
        tasks = [Task.create(n, recipe=functools.partial(calls.append, n)) for n in "abc"]
        with ThreadPoolExecutor(2) as pool:
            result = build(tmp_path, tasks, "a", "b", "c", jobs=2, executor=pool)
        assert sorted(calls) == ["a", "b", "c"]
        assert len(result.with_status(Status.RAN)) == 3


class TestScheduling:
    def test_two_jobs_run_two_recipes_at_once(self, tmp_path: Path) -> None:
        """Both recipes must reach the barrier together, or it breaks after its timeout."""
        barrier = threading.Barrier(2, timeout=30)
        tasks = [Task.create(n, recipe=barrier.wait) for n in ("a", "b")]
        with ThreadPoolExecutor(2) as pool:
            result = build(tmp_path, tasks, "a", "b", jobs=2, executor=pool)
        assert result.ok

    def test_one_job_never_overlaps(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """Given six free recipes on four threads, none finishes before the build waits for
        it; each wait must then find one recipe in flight, never more."""
        may_finish = threading.Semaphore(0)
        in_flight: list[int] = []

        real_wait = LocalRunner.wait

        def waiting(runner, futures, timeout=None):  # type: ignore[no-untyped-def]
            in_flight.append(len(futures))
            may_finish.release()  # one recipe may end per wait
            return real_wait(runner, futures, timeout)

        monkeypatch.setattr(LocalRunner, "wait", waiting)
        tasks = [
            Task.create(f"t{i}", recipe=may_finish.acquire, kwargs={"timeout": 30})
            for i in range(6)
        ]
        with ThreadPoolExecutor(4) as pool:
            result = build(tmp_path, tasks, *[t.name for t in tasks], jobs=1, executor=pool)
        assert result.ok
        assert in_flight == [1] * 6

    def test_ready_task_starts_as_soon_as_its_own_deps_are_done(self, tmp_path: Path) -> None:
        """Not wave by wave: 'quick2' (needing only 'quick') starts while 'slow' still runs."""
        slow_may_finish = threading.Event()
        order: list[str] = []

        def slow() -> None:
            assert slow_may_finish.wait(30)
            order.append("slow")

        tasks = [
            Task.create("slow", recipe=slow),
            Task.create("quick", recipe=order.append, args=("quick",)),
            Task.create("quick2", deps=["quick"], recipe=order.append, args=("quick2",)),
            Task.create("release", deps=["quick2"], recipe=slow_may_finish.set),
        ]
        with ThreadPoolExecutor(2) as pool:
            result = build(tmp_path, tasks, "slow", "release", jobs=2, executor=pool)
        assert result.ok
        assert order == ["quick", "quick2", "slow"]

    def test_longest_path_starts_first(self, tmp_path: Path) -> None:
        reporter = RecordingReporter()
        tasks = [sh(f"free{i}") for i in range(3)] + [sh("c1"), sh("c2", ["c1"]), sh("c3", ["c2"])]
        build(tmp_path, tasks, *[t.name for t in tasks], reporter=reporter, jobs=2)
        assert reporter.started_names()[0] == "c1"

    def test_one_job_keeps_makes_order(self, tmp_path: Path) -> None:
        """With one job the chain comes first only where make's walk puts it: the goals in
        turn, each task's deps in order, depth first."""
        reporter = RecordingReporter()
        tasks = [sh(f"free{i}") for i in range(3)] + [sh("c1"), sh("c2", ["c1"]), sh("c3", ["c2"])]
        build(tmp_path / "a", tasks, "free1", "c3", "free0", reporter=reporter)
        assert reporter.started_names() == ["free1", "c1", "c2", "c3", "free0"]
        (tmp_path / "b").mkdir()
        reporter = RecordingReporter()
        top = sh("top", ["free2", "c3", "free0"])
        build(tmp_path / "b", [*tasks, top], "top", reporter=reporter)
        assert reporter.started_names() == ["free2", "c1", "c2", "c3", "free0", "top"]

    def test_each_file_is_stated_once_per_run(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        for index, name in enumerate(["src", "a", "b", "c"]):
            touch(tmp_path / name, index)
        counts: dict[str, int] = {}
        real = Disk._stat

        def counting(self: Disk, name: str):  # type: ignore[no-untyped-def]
            counts[name] = counts.get(name, 0) + 1
            return real(self, name)

        monkeypatch.setattr(Disk, "_stat", counting)
        tasks = [sh("a", ["src"]), sh("b", ["a", "src"]), sh("c", ["a", "b", "src"])]
        build(tmp_path, tasks, "c")
        assert counts == {"src": 1, "a": 1, "b": 1, "c": 1}


class TestCollector:
    def test_a_build_freezes_nothing_for_good(self, tmp_path: Path) -> None:
        """The objects a build set up are kept from the cycle collector while it runs (frozen),
        and handed back to it afterwards: none stays frozen after the build."""
        seen: list[int] = []

        def frozen_now() -> None:
            seen.append(gc.get_freeze_count())

        assert gc.get_freeze_count() == 0
        result = build(tmp_path, [Task.create("a", recipe=frozen_now)], executor="thread")
        assert result.ok
        assert len(seen) == 1
        assert seen[0] > 0  # the recipe ran while the build's objects were frozen
        assert gc.get_freeze_count() == 0

    def test_a_callers_frozen_objects_stay_frozen(self, tmp_path: Path) -> None:
        gc.freeze()
        try:
            frozen = gc.get_freeze_count()
            assert build(tmp_path, [sh("a")]).ok
            assert gc.get_freeze_count() == frozen
        finally:
            gc.unfreeze()
