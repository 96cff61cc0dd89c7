"""Runners: pretending ones (-n, -t) and the executor runner's recovery from a dead worker."""

from __future__ import annotations

import os
from pathlib import Path

from minimake import Task
from minimake.disk import Disk
from minimake.pool import process_pool
from minimake.recipes import RecipeSpec
from minimake.result import Status
from minimake.runners import DryRunner, ExecutorRunner, TouchRunner


def test_dry_runner_succeeds_at_once_and_echoes_every_line() -> None:
    task = Task.create("x", recipe=["one", "two"])
    runner = DryRunner()
    assert runner.echo(task) == ["one", "two"]
    assert runner.start(task).result().ok
    assert (runner.status, runner.pretends) == (Status.WOULD_RUN, True)


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
    def spec_of(task: Task) -> RecipeSpec:
        assert isinstance(task.recipe, str)
        return RecipeSpec(task.name, str(tmp_path), commands=(task.recipe,))

    return spec_of


def test_a_dead_worker_fails_its_task_and_a_fresh_pool_takes_the_next(tmp_path: Path) -> None:
    """The worker's shell kills its own process group, so the worker itself dies."""
    runner = ExecutorRunner(process_pool(1), _spec(tmp_path), lambda: process_pool(1), owned=True)
    try:
        crashed = runner.start(Task.create("crash", recipe="kill -KILL 0")).result(timeout=60)
        assert crashed.crashed
        assert crashed.error is not None
        assert "signal 9" in crashed.error
        after = runner.start(Task.create("after", recipe="echo fine")).result(timeout=60)
        assert after.ok
        assert after.output == "fine\n"
    finally:
        runner.close()
