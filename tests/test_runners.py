"""Runners: pretending ones (-n, -t) and the executor runner's recovery from a dead worker."""

from __future__ import annotations

import os
import pickle
import signal
from concurrent.futures import Future, as_completed, wait
from pathlib import Path

from minimake import Task
from minimake.disk import Disk
from minimake.execution import recipes
from minimake.execution.capture import Capture
from minimake.execution.pool import process_pool
from minimake.execution.recipes import PythonSpec, RecipeSpec, ShellSpec
from minimake.execution.runners import DryRunner, DryTouchRunner, LocalRunner, TouchRunner
from minimake.result import Outcome, Status


def test_dry_runner_succeeds_at_once_and_echoes_every_line() -> None:
    task = Task.create("x", recipe=["one", "two"])
    runner = DryRunner()
    assert runner.echo(task) == ["one", "two"]
    assert runner.start(task).result().ok
    assert (runner.status, runner.pretends) == (Status.WOULD_RUN, True)


def test_a_pretended_recipe_is_a_future_done_from_the_start() -> None:
    """What the scheduler and concurrent.futures ask of it, as of any done Future."""
    task = Task.create("x", recipe="one")
    future = DryRunner().start(task)
    assert (future.done(), future.running(), future.cancelled()) == (True, False, False)
    assert future.result().ok
    assert future.result(timeout=0) is future.result()
    assert future.exception() is None
    assert not future.cancel()
    seen: list[Future[Outcome]] = []
    future.add_done_callback(seen.append)
    assert seen == [future]  # called at once, as for any done Future
    other = DryRunner().start(task)
    assert other is not future  # one per task: the scheduler keys what runs by its Future
    done, pending = wait([future, other], timeout=0)
    assert (done, pending) == ({future, other}, set())
    assert list(as_completed([future])) == [future]


def test_touch_runner_touches_outputs_of_tasks_with_recipes(tmp_path: Path) -> None:
    disk = Disk(str(tmp_path))
    runner = TouchRunner(disk)
    made = Task.create(["a", "b"], recipe="make it")
    group = Task.create("group", deps=["a"])
    assert runner.echo(made) == ["touch a", "touch b"]
    assert runner.echo(group) == []
    runner.start(made).result()
    runner.start(group).result()
    assert sorted(os.listdir(tmp_path)) == ["a", "b"]


def _spec(tmp_path: Path):  # type: ignore[no-untyped-def]
    capture = Capture(str(tmp_path), combined=True)

    def spec_of(task: Task) -> RecipeSpec:
        if isinstance(task.recipe, str):
            return ShellSpec(task.name, str(tmp_path), (task.recipe,), capture)
        call = (task.recipe, task.args, task.keyword_arguments)
        return PythonSpec(task.name, str(tmp_path), capture, payload=pickle.dumps(call))

    return spec_of


def test_a_dead_worker_fails_its_task_and_a_fresh_worker_takes_the_next(tmp_path: Path) -> None:
    runner = LocalRunner(_spec(tmp_path), lambda: process_pool(1), root=str(tmp_path))
    try:
        task = Task.create("crash", recipe=os.kill, args=(0, signal.SIGKILL))
        crashed = runner.start(task).result(timeout=60)
        assert crashed.crashed
        assert crashed.error is not None
        assert "signal 9" in crashed.error
        after = runner.start(Task.create("after", recipe=print, args=("fine",))).result(timeout=60)
        assert after.ok
        assert recipes.inline(after).output == "fine\n"
        shell = runner.start(Task.create("shell", recipe="echo also")).result(timeout=60)
        assert recipes.inline(shell).output == "also\n"
    finally:
        runner.close()


def test_every_local_runner_declares_a_capacity_of_one_and_lets_recipes_finish(
    tmp_path: Path,
) -> None:
    """-j defaults to a runner's capacity (make's 1 here); halt ends nothing, as make waits
    for the recipes already running after a failure."""
    local = LocalRunner(_spec(tmp_path), lambda: process_pool(1), root=str(tmp_path))
    try:
        for runner in (DryRunner(), DryTouchRunner(), TouchRunner(Disk(str(tmp_path))), local):
            assert runner.capacity == 1
            runner.halt()
        assert local.start(Task.create("after", recipe="true")).result(timeout=60).ok
    finally:
        local.close()
