"""Named units of a resource (``--resource gpu=0,1,2,3``) and job slots: which names each
running recipe holds, what it is told of them, and that no two running recipes share one.

The recipes write their start and end, with what they were told, as lines appended to one
file (each line one write to a file opened for appending, so lines never mix); a rendezvous
in that file, not a clock, makes them overlap: each waits until as many recipes run as may
run at once, or until every one has started.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter, deque
from collections.abc import Collection
from concurrent.futures import Future
from pathlib import Path

import attrs
import pytest

import minimake
from minimake import Status, Task
from minimake.errors import UsageError
from minimake.events import NullReporter
from minimake.graph import build_graph, priorities
from minimake.options import Options
from minimake.plan import Plan
from minimake.resources import ResourceError, detect_gpus, environment, limits, parse_limits
from minimake.result import Environment, Outcome
from minimake.scheduler import Scheduler, Settings
from tests.conftest import RecordingReporter, cli, write_tasks
from tests.conftest import environment as cli_environment
from tests.test_scheduler import FakeDisk

WAIT = 30  # seconds a rendezvous may take before the recipe calls it a deadlock

# Imported by the tasks file (its folder is on sys.path while it loads) and run by the shell
# recipes as a script: one recipe's part in the log and the rendezvous.
RENDEZVOUS = f"""
import os
import sys
import time

LOG = "events.log"


def _lines():
    try:
        with open(LOG) as log:
            return log.read().splitlines()
    except FileNotFoundError:
        return []


def _say(line):
    fd = os.open(LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, (line + "\\n").encode())
    finally:
        os.close(fd)


def trial(target, together, total, fail=False):
    told = " ".join(
        os.environ.get(name, "-")
        for name in ("CUDA_VISIBLE_DEVICES", "MINIMAKE_RESOURCE_GPU", "MINIMAKE_SLOT")
    )
    _say(f"start {{target}} {{told}}")
    deadline = time.monotonic() + {WAIT}
    while True:
        lines = _lines()
        starts = sum(line.startswith("start ") for line in lines)
        ends = sum(line.startswith("end ") for line in lines)
        if starts - ends >= together or starts >= total:
            break
        if time.monotonic() > deadline:
            raise SystemExit("rendezvous: deadlock")
        time.sleep(0.005)  # polls the log: what it waits for is a line there, not time
    _say(f"end {{target}} {{told}}")
    if fail:
        raise RuntimeError(f"{{target}} fails")
    with open(target, "w") as out:
        out.write(told)


if __name__ == "__main__":
    trial(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:] == ["fail"])
"""


def _project(
    folder: Path, count: int, ask: int, together: int, *, python: bool, failing: str = ""
) -> None:
    """``count`` trials, each asking for ``ask`` gpu, as shell or Python recipes; the one
    named ``failing`` fails after its rendezvous."""
    write_tasks(folder, RENDEZVOUS, "rendezvous.py")
    if python:
        recipe = f"recipe=rendezvous.trial, args=[name, {together}, {count}, name == {failing!r}]"
    else:
        recipe = (
            f'recipe=f"{{sys.executable}} rendezvous.py {{name}} {together} {count}"'
            f' + (" fail" if name == {failing!r} else "")'
        )
    write_tasks(
        folder,
        f"""
        import sys

        import rendezvous
        from minimake import phony, task

        NAMES = [f"trial{{i}}" for i in range({count})]
        for name in NAMES:
            task(name, {recipe}, resources={{"gpu": {ask}}})
        phony("all", deps=NAMES)
        """,
    )


@attrs.frozen
class Event:
    kind: str  # start or end
    task: str
    devices: tuple[str, ...]  # CUDA_VISIBLE_DEVICES, split
    resource: str  # MINIMAKE_RESOURCE_GPU
    slot: str  # MINIMAKE_SLOT


def _events(folder: Path) -> list[Event]:
    events = []
    for line in (folder / "events.log").read_text().splitlines():
        kind, task, devices, resource, slot = line.split(" ")
        events.append(Event(kind, task, tuple(devices.split(",")), resource, slot))
    return events


def _check_overlaps(events: list[Event], limit: int, jobs: int) -> set[str]:
    """Replay the log: never more than ``limit`` running, no name or slot held by two at
    once, each told the same names both ways; returns every name used."""
    running: dict[str, Event] = {}
    used: set[str] = set()
    for event in events:
        if event.kind == "end":
            del running[event.task]
            continue
        assert len(running) < limit, f"{event.task} started beside {sorted(running)}"
        assert event.resource == ",".join(event.devices)
        held = {name for other in running.values() for name in other.devices} - {"-"}
        assert not held & set(event.devices), f"{event.task} got {event.devices}, held: {held}"
        assert event.slot not in {other.slot for other in running.values()}
        assert 0 <= int(event.slot) < jobs
        running[event.task] = event
        used.update(set(event.devices) - {"-"})
    assert not running
    return used


@pytest.mark.parametrize("python", [False, True], ids=["shell", "python"])
def test_each_running_trial_holds_its_own_gpu(tmp_path: Path, python: bool) -> None:
    """Given eight trials asking for one gpu each and four GPUs named, at -j8: never more than
    four run, no two running share a GPU or a job slot, and every GPU is used."""
    _project(tmp_path, count=8, ask=1, together=4, python=python)
    run = cli("-j8", "--resource", "gpu=0,1,2,3", "all", cwd=tmp_path, timeout=120)
    assert run.returncode == 0, run.stderr
    events = _events(tmp_path)
    assert len(events) == 16
    assert _check_overlaps(events, limit=4, jobs=8) == {"0", "1", "2", "3"}


def test_a_trial_asking_for_two_gets_two_distinct_names(tmp_path: Path) -> None:
    _project(tmp_path, count=4, ask=2, together=2, python=False)
    run = cli("-j4", "--resource", "gpu=0,1,2,3", "all", cwd=tmp_path, timeout=120)
    assert run.returncode == 0, run.stderr
    events = _events(tmp_path)
    assert all(len(set(event.devices)) == 2 for event in events)
    assert _check_overlaps(events, limit=2, jobs=4) == {"0", "1", "2", "3"}


def test_a_failed_trial_gives_its_names_back(tmp_path: Path) -> None:
    """Given one GPU and, under -k, a first trial that fails: the others still get it."""
    _project(tmp_path, count=3, ask=1, together=1, python=True, failing="trial0")
    run = cli("-j3", "-k", "--resource", "gpu=7,", "all", cwd=tmp_path, timeout=120)
    assert run.returncode == 2
    assert "trial0 fails" in run.stderr
    events = _events(tmp_path)
    assert [e.task for e in events if e.kind == "start"] == ["trial0", "trial1", "trial2"]
    assert _check_overlaps(events, limit=1, jobs=3) == {"7"}


def test_gpu_auto_takes_the_names_cuda_visible_devices_gives(tmp_path: Path) -> None:
    _project(tmp_path, count=4, ask=1, together=2, python=False)
    env = {"CUDA_VISIBLE_DEVICES": "5,7"}
    run = cli("-j4", "--resource", "gpu=auto", "--json", "all", cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stderr
    assert _check_overlaps(_events(tmp_path), limit=2, jobs=4) == {"5", "7"}
    held = {task["name"]: task["held"] for task in json.loads(run.stdout)["tasks"]}
    assert held["all"] == {}
    told = {e.task: list(e.devices) for e in _events(tmp_path)}
    assert {name: held[name]["gpu"] for name in told} == told


def test_gpu_auto_without_cuda_visible_devices_or_nvidia_smi_is_an_error(tmp_path: Path) -> None:
    _project(tmp_path, count=1, ask=1, together=1, python=False)
    empty = tmp_path / "bin"
    empty.mkdir()
    env = cli_environment()
    env.pop("CUDA_VISIBLE_DEVICES", None)
    env["PATH"] = str(empty)
    run = subprocess.run(
        [sys.executable, "-m", "minimake", "--resource", "gpu=auto", "all"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 2
    assert run.stderr == (
        "minimake: *** --resource gpu=auto finds no GPU: CUDA_VISIBLE_DEVICES is not set and "
        "there is no nvidia-smi on PATH (name them: --resource gpu=0,1).  Stop.\n"
    )
    assert not (tmp_path / "events.log").exists()


def test_every_recipe_has_a_job_slot_of_its_own(tmp_path: Path) -> None:
    """Given no resources at all, at -j3: MINIMAKE_SLOT is 0, 1 or 2, never two at once."""
    write_tasks(tmp_path, RENDEZVOUS, "rendezvous.py")
    write_tasks(
        tmp_path,
        """
        import sys
        from minimake import phony, task

        NAMES = [f"t{i}" for i in range(7)]
        for name in NAMES:
            task(name, recipe=f"{sys.executable} rendezvous.py {name} 3 7")
        phony("all", deps=NAMES)
        """,
    )
    run = cli("-j3", "all", cwd=tmp_path, timeout=120)
    assert run.returncode == 0, run.stderr
    events = _events(tmp_path)
    assert all(event.devices == ("-",) for event in events)
    _check_overlaps(events, limit=3, jobs=3)
    assert {event.slot for event in events} == {"0", "1", "2"}


class TestLimits:
    def test_names_on_the_command_line(self) -> None:
        assert parse_limits(["gpu=0,1, 2", "seat=a", "gpu1=3,", "n=2"]) == {
            "gpu": ("0", "1", "2"),
            "seat": ("a",),
            "gpu1": ("3",),
            "n": 2,
        }
        assert parse_limits(["gpu=auto"]) == {"gpu": "auto"}
        for word, message in [
            ("gpu=0,0", "--resource names each unit of 'gpu' once (got 0,0)."),
            ("seat=auto", "--resource knows 'auto' only for 'gpu' (got 'seat')."),
            ("gpu=,", "--resource needs at least one name for 'gpu' (got ())."),
        ]:
            with pytest.raises(ResourceError) as caught:
                parse_limits([word])
            assert str(caught.value) == message

    def test_names_in_code_are_kept_as_a_tuple(self) -> None:
        assert limits({"gpu": ["0", "1"], "n": 2}) == {"gpu": ("0", "1"), "n": 2}
        assert limits({"gpu": "auto"}, detect=lambda: ("3",)) == {"gpu": ("3",)}
        with pytest.raises(ResourceError, match="names each unit of 'gpu' once"):
            limits({"gpu": ["1", "1"]})

    def test_auto_reads_cuda_visible_devices_first(self) -> None:
        assert detect_gpus({"CUDA_VISIBLE_DEVICES": "2,3"}, which=lambda _: None) == ("2", "3")
        for hidden in ("", "-1"):
            with pytest.raises(ResourceError, match="which names no GPU"):
                detect_gpus({"CUDA_VISIBLE_DEVICES": hidden}, which=lambda _: "/x/nvidia-smi")

    def test_auto_reads_nvidia_smi_without_cuda_visible_devices(self) -> None:
        listing = (
            "GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-aa)\n"
            "  MIG 3g.40gb     Device  0: (UUID: MIG-bb)\n"
            "GPU 1: NVIDIA H100 80GB HBM3 (UUID: GPU-cc)\n"
        )
        found = detect_gpus({}, which=lambda _: "/x/nvidia-smi", listing=lambda _: listing)
        assert found == ("0", "1")
        with pytest.raises(ResourceError, match="lists no GPU"):
            detect_gpus({}, which=lambda _: "/x/nvidia-smi", listing=lambda _: "")

    def test_what_a_recipe_is_told(self) -> None:
        held = (("gpu", ("0", "2")), ("mem.gb", ("a",)))
        assert environment(held) == (
            ("MINIMAKE_RESOURCE_GPU", "0,2"),
            ("CUDA_VISIBLE_DEVICES", "0,2"),
            ("MINIMAKE_RESOURCE_MEM_GB", "a"),
        )

    def test_named_limits_are_refused_on_dask(self) -> None:
        with pytest.raises(UsageError, match=r"Resources given as names \(gpu\) are for"):
            Options(executor="dask", resources={"gpu": ["0", "1"]})
        Options(executor="dask", resources={"gpu": 2})  # counts stay Dask's as before

    def test_part_of_a_named_unit_is_an_error_before_anything_runs(self, tmp_path: Path) -> None:
        tasks = [Task.create("t", recipe="true", resources={"gpu": 0.5})]
        with pytest.raises(ResourceError, match="a task holds whole ones"):
            minimake.build(tasks, ["t"], root=tmp_path, resources={"gpu": ["0"]})


def _plan(names: tuple[str, ...], requests: dict[str, int]) -> Plan:
    tasks = [Task.create(n, recipe="x", resources={"gpu": r}) for n, r in requests.items()]
    graph = build_graph(tasks)
    return Plan(graph, set(graph.tasks), priorities(graph, set(graph.tasks)), {"gpu": names})


def test_an_unlimited_resource_and_an_unused_limit_are_said_once_before_the_build(
    tmp_path: Path,
) -> None:
    """Given trials asking for 'gpu' and a limit on 'gpus' (a typo): one warning for each,
    before anything starts; the trials still run, as make would."""
    tasks = [Task.create(f"t{i}", recipe="true", resources={"gpu": 1}) for i in range(3)]
    reporter = RecordingReporter()
    result = minimake.build(
        tasks, ["t0", "t1", "t2"], root=tmp_path, resources={"gpus": 2}, reporter=reporter
    )
    assert result.ok
    warnings = [event for event in reporter.events if event[0] == "warning"]
    assert warnings == [
        (
            "warning",
            "warning: tasks ask for 'gpu' (as 't0' does), but no --resource gpu=... limits "
            "it: they run without a bound.",
        ),
        (
            "warning",
            "warning: --resource gpus=... is ignored: no task asks for 'gpus' (did you mean "
            "'gpu'?).",
        ),
    ]
    assert reporter.events.index(warnings[-1]) < [e[0] for e in reporter.events].index("begin")
    quiet = RecordingReporter()
    minimake.build(tasks, ["t0"], root=tmp_path, resources={"gpu": 1}, reporter=quiet)
    assert not [event for event in quiet.events if event[0] == "warning"]


def test_the_timing_page_and_the_trace_show_the_names_each_task_held(tmp_path: Path) -> None:
    tasks = [Task.create(f"t{i}", recipe="true", resources={"gpu": 1}) for i in range(2)]
    folder, trace = tmp_path / "timings", tmp_path / "trace.json"
    result = minimake.build(
        tasks, ["t0", "t1"], root=tmp_path, resources={"gpu": ["3"]}, timings=folder, trace=trace
    )
    spans = result.timings.by_name() if result.timings else {}
    assert [spans[name].held for name in ("t0", "t1")] == [(("gpu", ("3",)),)] * 2
    page = folder / "minimake-timing.html"
    assert page.read_text().count("gpu: 3</title>") == 2
    events = json.loads(trace.read_text())["traceEvents"]
    assert [e["args"]["held"] for e in events if e.get("ph") == "X"] == [{"gpu": ["3"]}] * 2


class TestPlan:
    def test_names_go_to_the_reserving_task_and_come_back_when_it_is_done(self) -> None:
        plan = _plan(("a", "b", "c"), {"one": 1, "two": 2, "three": 1})
        assert [plan.pop() for _ in range(3)] == ["one", "two", "three"]
        assert plan.reserve("one")
        assert plan.reserve("two")
        assert not plan.reserve("three")
        assert plan.held("one") == (("gpu", ("a",)),)
        assert plan.held("two") == (("gpu", ("b", "c")),)
        assert plan.held("three") == ()
        plan.done("one")  # failed, say: what it held goes back all the same
        assert plan.pop() == "three"
        assert plan.held("three") == (("gpu", ("a",)),)
        plan.done("two")
        plan.done("three")
        assert plan.finished()


class SlotRunner:
    """A fake runner that checks, at each start, that no running recipe holds the names or
    the job slot it is given; each wait finishes the recipe started first. Constant work per
    task, unlike test_scheduler's, so that 20,000 go through quickly."""

    status = Status.RAN
    pretends = False
    touches = False
    capacity = 1

    def __init__(self) -> None:
        self.pending: deque[Future[Outcome]] = deque()
        self.running: dict[Future[Outcome], tuple[set[str], str]] = {}
        self.used: Counter[str] = Counter()
        self.most = 0

    def echo(self, task: Task) -> list[str]:
        return []

    def start(self, task: Task, env: Environment = ()) -> Future[Outcome]:
        told = dict(env)
        names, slot = set(told["CUDA_VISIBLE_DEVICES"].split(",")), told["MINIMAKE_SLOT"]
        for held, other in self.running.values():
            assert not held & names
            assert other != slot
        future: Future[Outcome] = Future()
        self.pending.append(future)
        self.running[future] = (names, slot)
        self.most = max(self.most, len(self.running))
        self.used.update(names)
        return future

    def wait(
        self, futures: Collection[Future[Outcome]], timeout: float | None = None
    ) -> set[Future[Outcome]]:
        future = self.pending.popleft()
        del self.running[future]
        future.set_result(Outcome(ok=True))
        return {future}

    def halt(self) -> None:
        pass

    def stop(self, signum: int) -> None:
        pass

    def close(self, cancel: bool = False) -> None:
        pass


@pytest.mark.scale
def test_20000_trials_share_four_named_gpus(tmp_path: Path) -> None:
    """A 20,000-task sweep over four named GPUs at -j8 through the real loop (a fake runner):
    every task runs holding one name no other running task holds, and the names go round."""
    count = 20_000
    tasks = [Task.create(f"t{i}", recipe="x", resources={"gpu": 1}) for i in range(count)]
    graph = build_graph(tasks)
    runner = SlotRunner()
    settings = Settings(jobs=8, resources={"gpu": ("0", "1", "2", "3")})
    disk = FakeDisk(str(tmp_path))
    loop = Scheduler(graph, set(graph.tasks), disk, runner, NullReporter(), settings)  # type: ignore[arg-type]
    results = loop.run()
    assert len(results) == count
    assert all(result.status is Status.RAN for result in results.values())
    assert runner.most == 4
    assert set(runner.used) == {"0", "1", "2", "3"}
    assert sum(runner.used.values()) == count
    assert all(len(result.held[0][1]) == 1 for result in results.values())
