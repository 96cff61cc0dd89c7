"""Named resources: what a task may ask for, --resource limits, and the scheduler's pool."""

from __future__ import annotations

import math
import threading
from pathlib import Path

import pytest

import minimake
from minimake import Status, Task
from minimake.errors import MinimakeError, TaskDefinitionError
from minimake.graph import build_graph, priorities
from minimake.plan import Plan
from minimake.resources import ResourceError, parse_limits
from tests.conftest import RecordingReporter, cli, write_tasks

WAIT = 10  # seconds a rendezvous may take before the test calls it a deadlock


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ({"gpu": 1}, (("gpu", 1),)),
        ({"mem.gb": 1.5, "gpu": 2}, (("gpu", 2), ("mem.gb", 1.5))),
        ([("gpu", 1)], (("gpu", 1),)),
        (None, ()),
    ],
)
def test_a_task_keeps_its_resources_as_sorted_pairs(given: object, stored: object) -> None:
    assert Task.create("t", recipe="true", resources=given).resources == stored  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("given", "problem"),
    [
        ({"gpu": 0}, "needs a positive amount of 'gpu' (got 0)"),
        ({"gpu": -1}, "needs a positive amount of 'gpu' (got -1)"),
        ({"gpu": math.inf}, "needs a positive amount of 'gpu' (got inf)"),
        ({"gpu": True}, "needs a number for 'gpu' (got True)"),
        ({"gpu": "1"}, "needs a number for 'gpu' (got '1')"),
        ({"two words": 1}, "needs names like 'gpu' (got 'two words')"),
        ({"": 1}, "needs names like 'gpu' (got '')"),
        (3, "must map names to amounts, like {'gpu': 1} (got 3)"),
        ("gpu", "must map names to amounts, like {'gpu': 1} (got 'gpu')"),
    ],
)
def test_a_bad_request_names_the_task_and_the_field(given: object, problem: str) -> None:
    with pytest.raises(TaskDefinitionError) as caught:
        Task.create("t", recipe="true", resources=given)  # type: ignore[arg-type]
    assert str(caught.value).endswith(f"Task 't': 'resources' {problem}")


def test_phony_and_task_take_resources_too() -> None:
    assert minimake.phony("p", resources={"gpu": 1}).resources == (("gpu", 1),)
    assert minimake.task("t", recipe="true", resources={"gpu": 1}).resources == (("gpu", 1),)


def test_limits_from_the_command_line() -> None:
    assert parse_limits(["gpu=2", "mem=1.5", "io = 3"]) == {"gpu": 2, "mem": 1.5, "io": 3}
    for word, message in [
        ("gpu", "--resource needs NAME=AMOUNT (got 'gpu')."),
        ("gpu=", "--resource needs a number for 'gpu' (got '')."),
        ("gpu=0", "--resource needs a positive amount of 'gpu' (got 0)."),
        ("=2", "--resource needs names like 'gpu' (got '')."),
    ]:
        with pytest.raises(ResourceError) as caught:
            parse_limits([word])
        assert str(caught.value) == message


def _plan(limits: dict[str, float], requests: dict[str, dict[str, float]]) -> Plan:
    """A plan of independent tasks, each asking for its ``requests``, in that order."""
    tasks = [Task.create(n, recipe="x", resources=r) for n, r in requests.items()]
    graph = build_graph(tasks)
    return Plan(graph, set(graph.tasks), priorities(graph, set(graph.tasks)), limits)


def _pop_all(plan: Plan) -> list[str]:
    popped = []
    while plan.has_ready():
        popped.append(plan.pop())
    return popped


class TestPool:
    def test_a_request_waits_until_enough_is_given_back(self) -> None:
        gpu = {"gpu": 1}
        plan = _plan({"gpu": 2}, {"a": {"gpu": 2}, "b": gpu, "c": gpu, "d": gpu})
        assert _pop_all(plan) == ["a", "b", "c", "d"]
        assert plan.reserve("a")
        assert not plan.reserve("b")
        assert not plan.reserve("c")
        assert not plan.has_ready()
        plan.done("a")
        # Released tasks hold their share already: the next one asking waits.
        assert _pop_all(plan) == ["b", "c"]
        assert not plan.reserve("d")
        plan.done("b")
        assert _pop_all(plan) == ["d"]

    def test_names_without_a_limit_are_not_counted(self) -> None:
        plan = _plan({"gpu": 1}, {"a": {"tpu": 5}, "b": {"gpu": 1, "tpu": 5}})
        assert _pop_all(plan) == ["a", "b"]
        assert plan.reserve("a")
        assert plan.reserve("b")
        plan.done("a")
        assert not plan.has_ready()

    def test_waiting_tasks_are_served_in_order_per_request(self) -> None:
        one, two = {"gpu": 1}, {"gpu": 2}
        plan = _plan({"gpu": 2}, {"big": two, "one": one, "two": two, "three": one})
        _pop_all(plan)
        assert plan.reserve("big")
        assert not plan.reserve("one")
        assert not plan.reserve("two")
        assert not plan.reserve("three")  # behind 'one', not before it
        plan.done("big")
        assert _pop_all(plan) == ["one", "three"]
        assert plan.remaining() == ["one", "two", "three"]
        plan.done("one")
        plan.done("three")
        assert _pop_all(plan) == ["two"]


def _tracker() -> tuple[dict[str, int], threading.Lock]:
    return {"now": 0, "most": 0}, threading.Lock()


def test_the_limit_bounds_running_tasks_beside_jobs(tmp_path: Path) -> None:
    count, lock = _tracker()
    both = threading.Barrier(2, timeout=WAIT)  # proves two gpu tasks do run at once

    def gpu_task() -> None:
        with lock:
            count["now"] += 1
            count["most"] = max(count["most"], count["now"])
        both.wait()
        with lock:
            count["now"] -= 1

    tasks = [Task.create(f"g{i}", recipe=gpu_task, resources={"gpu": 1}) for i in range(6)]
    tasks.append(Task.create("all", deps=[t.name for t in tasks], phony=True))
    result = minimake.build(
        tasks, ["all"], root=tmp_path, jobs=4, executor="thread", resources={"gpu": 2}
    )
    assert result.ok, result.tasks
    assert count["most"] == 2


def test_a_task_without_the_resource_passes_the_waiting_ones(tmp_path: Path) -> None:
    gpu_running, cpu_running = threading.Event(), threading.Event()

    def gpu_task() -> None:
        gpu_running.set()
        assert cpu_running.wait(WAIT), "the cpu task did not start beside the gpu task"

    def cpu_task() -> None:
        cpu_running.set()
        assert gpu_running.wait(WAIT)

    tasks = [
        Task.create("g0", recipe=gpu_task, resources={"gpu": 1}),
        Task.create("g1", recipe=gpu_task, resources={"gpu": 1}),
        Task.create("c", recipe=cpu_task),
        Task.create("all", deps=["g0", "g1", "c"], phony=True),
    ]
    result = minimake.build(
        tasks, ["all"], root=tmp_path, jobs=2, executor="thread", resources={"gpu": 1}
    )
    assert result.ok, result.tasks


class _FailureSeen(RecordingReporter):
    """Sets ``event`` once the engine has reported task ``name`` finished."""

    def __init__(self, name: str, event: threading.Event) -> None:
        super().__init__()
        self.name, self.event = name, event

    def finished(self, task, result, ignored):  # type: ignore[no-untyped-def]
        super().finished(task, result, ignored)
        if task.name == self.name:
            self.event.set()


def test_tasks_still_waiting_for_resources_are_skipped_after_a_failure(tmp_path: Path) -> None:
    failed = threading.Event()

    def gpu_task() -> None:
        # Hold the gpu until the build has seen the failure: the others then never start.
        assert failed.wait(WAIT)

    def bad() -> None:
        raise ValueError("bad")

    tasks = [Task.create(f"g{i}", recipe=gpu_task, resources={"gpu": 1}) for i in range(3)]
    tasks.append(Task.create("bad", recipe=bad))
    tasks.append(Task.create("all", deps=[t.name for t in tasks], phony=True))
    result = minimake.build(
        tasks,
        ["all"],
        root=tmp_path,
        jobs=2,
        executor="thread",
        resources={"gpu": 1},
        reporter=_FailureSeen("bad", failed),
    )
    statuses = {name: r.status for name, r in result.tasks.items()}
    assert statuses == {
        "g0": Status.RAN,
        "bad": Status.FAILED,
        "g1": Status.SKIPPED,
        "g2": Status.SKIPPED,
        "all": Status.SKIPPED,
    }


def test_a_request_above_the_limit_is_an_error_before_anything_runs(tmp_path: Path) -> None:
    tasks = [
        Task.create("a", recipe="touch a"),
        Task.create("b", recipe="touch b", resources={"gpu": 2}),
    ]
    tasks.append(Task.create("all", deps=["a", "b"], phony=True))
    with pytest.raises(
        ResourceError,
        match=r"^Task 'b' asks for gpu=2, but --resource allows "
        r"only gpu=1\.$",
    ):
        minimake.build(tasks, ["all"], root=tmp_path, resources={"gpu": 1})
    with pytest.raises(MinimakeError, match=r"^Resource limit needs a positive amount of 'gpu'"):
        minimake.build(tasks, ["all"], root=tmp_path, resources={"gpu": 0})
    assert not (tmp_path / "a").exists()


def test_resources_without_a_limit_do_not_hold_anything_back(tmp_path: Path) -> None:
    tasks = [Task.create(n, recipe=f"touch {n}", resources={"gpu": 8}) for n in ("a", "b")]
    tasks.append(Task.create("all", deps=["a", "b"], phony=True))
    assert minimake.build(tasks, ["all"], root=tmp_path, jobs=2).ok


def test_the_command_line_limit(tmp_path: Path) -> None:
    write_tasks(
        tmp_path,
        """\
        from minimake import task
        task("a", recipe="touch a", resources={"gpu": 2})
        """,
    )
    bad = cli("--resource", "gpu=", cwd=tmp_path)
    assert bad.returncode == 2
    assert "minimake: *** --resource needs a number for 'gpu' (got '').  Stop." in bad.stderr
    one = cli("--resource", "gpu=x", cwd=tmp_path)  # not a number: the name of one unit
    assert one.returncode == 2
    message = "Task 'a' asks for gpu=2, but --resource names only 1: gpu=x.  Stop."
    assert f"minimake: *** {message}" in one.stderr
    small = cli("--resource", "gpu=1", cwd=tmp_path)
    assert small.returncode == 2
    assert "asks for gpu=2, but --resource allows only gpu=1." in small.stderr
    assert cli("--resource", "gpu=2", cwd=tmp_path).returncode == 0
    assert (tmp_path / "a").exists()
