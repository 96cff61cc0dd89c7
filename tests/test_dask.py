"""minimake on real Dask clusters, every listener on 127.0.0.1 (dashboards included).

Three clusters: a LocalCluster in this process (threads, for the quick checks), one that
minimake starts itself (``--executor dask``), and one from the ``dask scheduler`` and
``dask worker`` commands, stopped by process id. Deselect them all with ``-m "not dask"``.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

import minimake
from minimake import Task
from minimake.errors import MinimakeError
from minimake.execution.capture import Capture
from minimake.execution.recipes import ShellSpec
from minimake.result import Outcome, Status
from tests.conftest import REPO, alive, cli, environment, start, write_tasks

distributed = pytest.importorskip("distributed")
sys.path.insert(0, str(Path(__file__).parent))
import dag_gen  # noqa: E402

pytestmark = [pytest.mark.dask, pytest.mark.timeout(120)]

LOOPBACK = {"dashboard_address": "127.0.0.1:0", "worker_dashboard_address": "127.0.0.1:0"}
ENV = environment()  # for the cluster processes the tests start


def _wait_for(condition, seconds: float = 30, what: str = "it"):  # type: ignore[no-untyped-def]
    """Poll ``condition`` until it is true (a rendezvous with another process, not a delay)."""
    deadline = time.monotonic() + seconds
    while not (found := condition()):
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)
    return found


@pytest.fixture(scope="module")
def inproc() -> Iterator[object]:
    """Two single-thread workers in this process, each with one 'gpu'."""
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=False,
        resources={"gpu": 1},
        silence_logs=logging.ERROR,
        **LOOPBACK,
    )
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


def _dask_command(*words: str) -> list[str]:
    dask = shutil.which("dask")
    return [dask, *words] if dask else [sys.executable, "-m", "dask", *words]


@pytest.fixture(scope="module")
def commands(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    """`dask scheduler` and `dask worker --nworkers 2` on loopback, stopped by process id."""
    folder = tmp_path_factory.mktemp("cluster")
    file = folder / "scheduler.json"
    log = (folder / "cluster.log").open("w")
    scheduler = subprocess.Popen(
        _dask_command(
            "scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--dashboard-address",
            "127.0.0.1:0",
            "--scheduler-file",
            str(file),
        ),
        cwd=folder,
        env=ENV,
        stdout=log,
        stderr=log,
    )
    worker = None
    client = None
    try:
        _wait_for(file.exists, what="the scheduler file")
        worker = subprocess.Popen(
            _dask_command(
                "worker",
                "--scheduler-file",
                str(file),
                "--host",
                "127.0.0.1",
                "--dashboard-address",
                "127.0.0.1:0",
                "--nworkers",
                "2",
                "--nthreads",
                "1",
                "--resources",
                "gpu=1",
            ),
            cwd=folder,  # not the project: minimake must pass cwd explicitly
            env=ENV,
            stdout=log,
            stderr=log,
        )
        client = distributed.Client(scheduler_file=str(file))
        client.wait_for_workers(2, timeout=60)
        yield SimpleNamespace(file=str(file), client=client)
    finally:
        if client is not None:
            client.close()
        for process in (worker, scheduler):
            if process is not None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        log.close()


def _minimake(folder: Path, *args: str) -> SimpleNamespace:
    """``minimake ARGS`` in-process (its start-up would dominate), in ``folder``."""
    from minimake import cli as command

    out, err = io.StringIO(), io.StringIO()
    handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGHUP)}
    old = os.getcwd()
    os.chdir(folder)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = command.main(["--progress", "off", *args])
    finally:
        os.chdir(old)
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
    return SimpleNamespace(rc=code, out=out.getvalue(), err=err.getvalue())


# --------------------------------------------------------------------------------------------
# Running recipes on workers


PLACES = """\
import os
from minimake import task, var

GREETING = var("GREETING")  # read when the worker re-imports this file


def where(path):
    with open(path, "w") as f:
        f.write(f"{os.getcwd()} {GREETING}")

task("shell.txt", recipe='echo "$(pwd) $TARGET $GREETING" > shell.txt')
task("python.txt", deps=["shell.txt"], recipe=where, args=("python.txt",))
"""


def test_recipes_run_in_the_project_folder_with_their_variables(
    inproc: object, tmp_path: Path
) -> None:
    write_tasks(tmp_path, PLACES)
    result = minimake.build(
        tmp_path / "tasks.py", ["python.txt"], executor=inproc, variables={"GREETING": "hi"}
    )
    assert result.ok, result.tasks
    assert (tmp_path / "shell.txt").read_text() == f"{tmp_path} shell.txt hi\n"
    assert (tmp_path / "python.txt").read_text() == f"{tmp_path} hi"
    outcome = result.tasks["python.txt"].outcome
    assert outcome is not None
    assert outcome.mtimes == (("python.txt", (tmp_path / "python.txt").stat().st_mtime_ns),)
    # The probe and the markers are cleaned up (the journal stays).
    assert not (tmp_path / ".minimake" / "dask").exists()


def test_recipes_built_in_code_travel_by_value(inproc: object, tmp_path: Path) -> None:
    folder = tmp_path / "out"
    tasks = [
        Task.create("a", recipe=lambda: (folder / "a").write_text("lambda")),
        Task.create("b", deps=["a"], recipe=_write, args=("b", "module function")),
    ]
    folder.mkdir()
    result = minimake.build(tasks, ["b"], root=folder, executor=inproc.get_executor())  # type: ignore[attr-defined]
    assert result.ok, result.tasks
    assert (folder / "a").read_text() == "lambda"
    assert (folder / "b").read_text() == "module function"


def test_timings_put_each_task_on_its_workers_lane(inproc: object, tmp_path: Path) -> None:
    from minimake.view.timings import lanes

    write_tasks(tmp_path, PLACES)
    trace = tmp_path / "trace.json"
    result = minimake.build(
        tmp_path / "tasks.py", ["python.txt"], executor=inproc, timings=True, trace=trace
    )
    assert result.ok, result.tasks
    assert result.timings is not None
    workers = {span.worker for span in result.timings.spans if span.ran}
    assert workers
    assert workers <= {"0", "1"}  # LocalCluster numbers its workers
    labels, _ = lanes(result.timings)
    assert set(labels) <= {"worker 0", "worker 1"}
    assert list((tmp_path / ".minimake" / "timings").glob("minimake-timing-*.html"))
    assert '"thread_name"' in trace.read_text()


def _write(path: str, text: str) -> None:
    Path(path).write_text(text)


RETRIED = """
import os
from minimake import task, attempt

def flaky():
    with open("attempts.log", "a") as log:
        log.write(f"python {attempt()}\\n")
    if attempt() < 2:
        raise RuntimeError("flake")
    open("python.txt", "w").write("done")

task("shell.txt", retries=1, recipe=(
    'echo "shell $MINIMAKE_ATTEMPT" >> attempts.log; '
    'test "$MINIMAKE_ATTEMPT" -ge 2 && touch $TARGET'
))
task("python.txt", deps=["shell.txt"], recipe=flaky, retries=1)
"""


def test_each_attempt_of_a_retried_task_is_a_submission_of_its_own(
    inproc: object, tmp_path: Path
) -> None:
    """A retry on Dask is the task's next run, with a key and a run marker of its own: neither
    Dask's memory of the failed key nor the lost-worker marker hands it the first failure."""
    write_tasks(tmp_path, RETRIED)
    result = minimake.build(tmp_path / "tasks.py", ["python.txt"], executor=inproc)
    assert result.ok, result.tasks
    assert (tmp_path / "attempts.log").read_text().split("\n")[:-1] == [
        "shell 1",
        "shell 2",
        "python 1",
        "python 2",
    ]
    assert result.tasks["shell.txt"].attempts == result.tasks["python.txt"].attempts == 2


TIMED = """
import os, time
from minimake import task

def hang():
    with open("python.pid", "w") as out:
        out.write(str(os.getpid()))
    time.sleep(1000)

task("shell.txt", timeout=0.5, recipe="echo $$ > shell.pid; echo part > $TARGET; sleep 1000")
task("python.txt", timeout=0.5, recipe=hang)
task("fine.txt", timeout=60, recipe="touch $TARGET")
"""


def test_a_time_limit_stops_the_recipe_on_its_worker(inproc: object, tmp_path: Path) -> None:
    """On Dask a recipe past its time limit is stopped where it runs, with its process group,
    and fails in make's form; what it half wrote is deleted, and a recipe within its limit is
    untouched."""
    write_tasks(tmp_path, TIMED)
    result = minimake.build(
        tmp_path / "tasks.py",
        ["shell.txt", "python.txt", "fine.txt"],
        executor=inproc,
        keep_going=True,
    )
    for name in ("shell.txt", "python.txt"):
        outcome = result.tasks[name].outcome
        assert outcome is not None
        assert (outcome.ok, outcome.timed_out) == (False, 0.5), outcome
    assert result.tasks["fine.txt"].status is Status.RAN
    assert not (tmp_path / "shell.txt").exists()
    for pid in ("shell.pid", "python.pid"):
        _wait_for(lambda pid=pid: not alive(int((tmp_path / pid).read_text())), what=pid)


def test_a_resource_no_worker_has_is_an_error_before_anything_runs(
    inproc: object, tmp_path: Path
) -> None:
    tasks = [
        Task.create("a", recipe="touch a"),
        Task.create("b", deps=["a"], recipe="touch b", resources={"gpu": 2}),
    ]
    with pytest.raises(MinimakeError, match=r"'b' asks for gpu=2, which no Dask worker has"):
        minimake.build(tasks, ["b"], root=tmp_path, executor=inproc)
    with pytest.raises(MinimakeError, match=r"tpu=1.*workers offer: gpu=1"):
        minimake.build(
            [Task.create("t", recipe="touch t", resources={"tpu": 1})],
            ["t"],
            root=tmp_path,
            executor=inproc,
        )
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != ".minimake") == []


def test_workers_that_cannot_see_the_project_are_refused(
    inproc: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from minimake.execution import dask as backend

    real = backend.probe

    def elsewhere(path: str, expected: str, version: str) -> str | None:
        # A worker that mounts the project somewhere else sees nothing at this path.
        return real(path.replace(str(tmp_path), "/nonexistent"), expected, version)

    monkeypatch.setattr(backend, "probe", elsewhere)
    with pytest.raises(MinimakeError) as caught:
        minimake.build([Task.create("a", recipe="touch a")], ["a"], root=tmp_path, executor=inproc)
    message = str(caught.value)
    assert "cannot read '/nonexistent/.minimake/dask/" in message
    assert f"Workers must see the project folder '{tmp_path}' at the same path" in message
    assert not (tmp_path / "a").exists()
    assert not (tmp_path / ".minimake" / "dask").exists()


def test_a_task_started_twice_is_refused_the_second_time(tmp_path: Path) -> None:
    from minimake.execution import dask_worker as backend

    capture = Capture(None, combined=True)
    spec = ShellSpec("a", str(tmp_path), ("echo ran >> log",), capture, outputs=("log",))
    first = backend.run_task(spec, "b1", str(tmp_path))
    again = backend.run_task(spec, "b1", str(tmp_path))
    backend.end_build("b1")
    assert first.ok
    assert first.mtimes == (("log", (tmp_path / "log").stat().st_mtime_ns),)
    assert not again.ok
    assert again.crashed
    assert again.error == "its Dask worker was lost while running it (not run again)"
    assert (tmp_path / "log").read_text() == "ran\n"
    lost = backend.run_task(spec, "b2", str(tmp_path / "not-mounted"))
    assert not lost.ok
    assert "cannot see the project folder" in (lost.error or "")


def test_outputs_the_worker_saw_are_awaited_up_to_the_latency_wait(tmp_path: Path) -> None:
    from minimake.execution.dask import DaskRunner

    runner = DaskRunner(
        None,
        lambda task: None,
        str(tmp_path),
        "b",
        capacity=1,  # type: ignore[arg-type, return-value]
        latency_wait=0.3,
    )
    outcome = Outcome(ok=True, mtimes=(("late", 123), ("never", 123), ("skipped", None)))
    threading.Timer(0.1, (tmp_path / "late").touch).start()
    waited = runner._await_outputs(outcome)
    assert not waited.ok
    assert waited.error == (
        "'never' was written on the worker but is not visible here after 0.3 s "
        "(raise --latency-wait)"
    )
    (tmp_path / "never").touch()
    assert runner._await_outputs(outcome).ok


class _Client:
    """What DaskRunner.halt asks of a client: run a function on every worker."""

    def __init__(self) -> None:
        self.runs: list[tuple[object, ...]] = []

    def run(self, function: object, *args: object, on_error: str) -> None:
        self.runs.append((getattr(function, "__name__", function), *args))


def test_halting_ends_the_recipes_on_the_workers_unless_a_signal_did(tmp_path: Path) -> None:
    """The scheduler halts the runner when a failure stops the build (no -k): on a cluster the
    running recipes get SIGTERM, then SIGKILL after the grace; after Ctrl-C, nothing more."""
    from minimake.execution.dask import GRACE, DaskRunner

    client = _Client()
    runner = DaskRunner(client, lambda task: None, str(tmp_path), "b", capacity=3)  # type: ignore[arg-type, return-value]
    assert runner.capacity == 3
    runner.halt()
    assert client.runs == [("stop_build", "b", int(signal.SIGTERM), GRACE)]
    runner.stop(signal.SIGINT)
    runner.halt()
    assert client.runs[1:] == [("stop_build", "b", int(signal.SIGINT), 0.0)]


def test_choosing_an_executor(tmp_path: Path) -> None:
    write_tasks(tmp_path, "from minimake import task\ntask('a', recipe='touch a')\n")
    wrong = _minimake(tmp_path, "--executor", "process", "--scheduler", "tcp://127.0.0.1:1")
    assert wrong.rc == 2
    assert "A Dask scheduler needs the dask executor (got 'process')." in wrong.err
    # -n needs no cluster, so none is started.
    dry = _minimake(tmp_path, "--executor", "dask", "-n")
    assert dry.rc == 0
    assert dry.out == "touch a\n"
    threads = cli("a", cwd=tmp_path, env={"MINIMAKE_EXECUTOR": "thread"})
    assert threads.returncode == 0
    assert (tmp_path / "a").exists()
    bogus = cli("a", cwd=tmp_path, env={"MINIMAKE_EXECUTOR": "ray"})
    assert bogus.returncode == 2
    assert "Unknown executor 'ray': choose process, thread or dask." in bogus.stderr


def test_an_unreachable_scheduler_is_a_clear_error(tmp_path: Path) -> None:
    import dask

    write_tasks(tmp_path, "from minimake import task\ntask('a', recipe='touch a')\n")
    with dask.config.set({"distributed.comm.timeouts.connect": "0.5s"}):
        run = _minimake(tmp_path, "--scheduler", "tcp://127.0.0.1:9")
        missing = _minimake(tmp_path, "--scheduler-file", str(tmp_path / "none.json"))
    assert run.rc == 2
    assert "minimake: *** Cannot reach the Dask scheduler at 'tcp://127.0.0.1:9'" in run.err
    assert missing.rc == 2
    gone = f"*** No Dask scheduler file '{tmp_path}/none.json' (waited 0.5 s).  Stop."
    assert gone in missing.err


# --------------------------------------------------------------------------------------------
# The commands' cluster: same results as the process pool, -j, stopping, lost workers


def _tree(graph: dag_gen.Graph, state: dag_gen.State, root: Path) -> Path:
    root.mkdir()
    (root / "tasks.py").write_text(dag_gen.to_tasks_py(graph))
    state.write(root)
    return root


@pytest.mark.parametrize("seed", range(6))
def test_generated_dags_rebuild_what_the_process_pool_rebuilds(
    commands: SimpleNamespace, tmp_path: Path, seed: int
) -> None:
    rng = random.Random(f"dask-{seed}")
    graph = dag_gen.random_dag(rng, fail=seed % 3 == 2)
    state = dag_gen.random_state(graph, rng) if seed % 2 else dag_gen.built_state(graph)
    if not seed % 2:
        dag_gen.perturb(graph, state, rng)
    flags = ["-k"] if seed % 3 == 2 else (["-B"] if seed == 4 else [])
    pool = _tree(graph, state, tmp_path / "pool")
    dask = _tree(graph, state, tmp_path / "dask")
    local = _minimake(pool, "-j2", *flags)
    remote = _minimake(dask, "--scheduler-file", commands.file, *flags)
    where = f"{dag_gen.to_makefile(graph)}\n{local.err}\n---\n{remote.err}"
    assert remote.rc == local.rc, where
    ran = [
        (root / dag_gen.LOG).read_text().split() if (root / dag_gen.LOG).exists() else []
        for root in (pool, dask)
    ]
    assert sorted(ran[1]) == sorted(ran[0]), where
    files = graph.files()
    assert {f for f in files if (dask / f).exists()} == {f for f in files if (pool / f).exists()}


def test_jobs_default_to_the_cluster_threads(commands: SimpleNamespace, tmp_path: Path) -> None:
    # Each recipe waits until the other has started: only two at once can finish.
    write_tasks(
        tmp_path,
        """\
        from minimake import task, phony
        WAIT = "i=0; while [ ! -e {0} ] && [ $i -lt 300 ]; do sleep 0.05; i=$((i+1)); done"
        for me, other in (("a", "b"), ("b", "a")):
            task(me, recipe=f"touch {me}.started; " + WAIT.format(f"{other}.started")
                 + f"; test -e {other}.started && touch {me}")
        phony("all", deps=["a", "b"], default=True)
        """,
    )
    run = _minimake(tmp_path, "--scheduler-file", commands.file)
    assert run.rc == 0, run.err
    assert (tmp_path / "a").exists()
    assert (tmp_path / "b").exists()


STOPPABLE = """\
from minimake import task, phony

task("slow", recipe="echo partial > slow; sleep 1000 & echo $! > slow.pid; wait; echo done > slow")
task("bad", recipe="while [ ! -s slow.pid ]; do sleep 0.05; done; exit 3")
phony("all", deps=["slow", "bad"], default=True)
"""


def test_a_failure_without_k_kills_the_recipes_running_on_workers(
    commands: SimpleNamespace, tmp_path: Path
) -> None:
    write_tasks(tmp_path, STOPPABLE)
    run = _minimake(tmp_path, "--scheduler-file", commands.file)
    assert run.rc == 2
    assert "minimake: *** [tasks.py:4: bad] Error 3" in run.err
    assert "minimake: *** [tasks.py:3: slow] Terminated" in run.err
    assert "minimake: *** Deleting file 'slow'" in run.err
    assert not (tmp_path / "slow").exists()
    sleeper = int((tmp_path / "slow.pid").read_text())
    _wait_for(lambda: not alive(sleeper), 10, "the recipe's sleep to be killed")


def test_ctrl_c_kills_the_recipes_running_on_workers(
    commands: SimpleNamespace, tmp_path: Path
) -> None:
    write_tasks(tmp_path, STOPPABLE.replace("exit 3", "sleep 1000"))
    process = start("--scheduler-file", commands.file, cwd=tmp_path, env={"NO_COLOR": "1"})
    sleeper = int(
        _wait_for(
            lambda: (
                (tmp_path / "slow.pid").exists() and (tmp_path / "slow.pid").read_text().strip()
            ),
            what="slow.pid",
        )
    )
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "minimake: *** [tasks.py:3: slow] Interrupt" in err
    assert not (tmp_path / "slow").exists()
    _wait_for(lambda: not alive(sleeper), 10, "the recipe's sleep to be killed")


GATED_ON_WORKER = """\
from minimake import task
task("out", recipe="echo started > started; while [ ! -e go ]; do sleep 0.05; done; touch out")
"""


def test_the_folder_of_a_build_killed_with_9_is_removed_by_the_next_run(
    commands: SimpleNamespace, tmp_path: Path
) -> None:
    write_tasks(tmp_path, GATED_ON_WORKER)
    process = start("--scheduler-file", commands.file, cwd=tmp_path)
    _wait_for((tmp_path / "started").exists, what="the recipe to start")
    [folder] = (tmp_path / ".minimake" / "dask").iterdir()
    process.kill()
    process.communicate()
    (tmp_path / "go").touch()  # the recipe left on the worker ends
    assert folder.is_dir()
    run = _minimake(tmp_path, "--scheduler-file", commands.file)
    assert run.rc == 0, run.err
    assert not folder.exists()
    assert not (tmp_path / ".minimake" / "dask").exists()  # this run's own is gone too


VICTIM = """\
import os, subprocess, time
from minimake import task, phony

def victim():
    with open("starts.log", "a") as f:
        f.write("victim\\n")
    with open("victim", "w") as f:
        f.write("partial")
    sleeper = subprocess.Popen(["sleep", "1000"])
    with open("victim.pids", "w") as f:
        f.write(f"{os.getppid()} {sleeper.pid}")  # the Dask worker's, and the recipe's child
    sleeper.wait()

task("victim", recipe=victim)
task("after", deps=["victim"], recipe="touch after")
for i in range(4):
    task(f"ok{i}", recipe=f"echo ok{i} >> starts.log; touch ok{i}")
phony("all", deps=["after"] + [f"ok{i}" for i in range(4)], default=True)
"""


@pytest.mark.parametrize("cluster", ["commands", "own"])
def test_a_killed_worker_fails_its_task_once_and_nothing_is_lost(
    commands: SimpleNamespace, tmp_path: Path, cluster: str
) -> None:
    write_tasks(tmp_path, VICTIM)
    where = ["--scheduler-file", commands.file] if cluster == "commands" else ["--executor", "dask"]
    process = start("-k", "-j2", *where, cwd=tmp_path, env={"NO_COLOR": "1"})
    pids = _wait_for(
        lambda: (
            (tmp_path / "victim.pids").exists() and (tmp_path / "victim.pids").read_text().split()
        ),
        what="victim.pids",
    )
    worker, sleeper = map(int, pids)
    os.kill(worker, signal.SIGKILL)
    _, err = process.communicate(timeout=90)
    assert process.returncode == 2, err
    lost = (
        "[tasks.py:14: victim] Its Dask worker was lost while running it (not run again)"
        if cluster == "commands"  # allowed-failures 3: the second attempt refuses to run
        else "[tasks.py:14: victim] Dask worker tcp://127.0.0.1:"  # ours: KilledWorker at once
    )
    assert lost in err
    assert "minimake: *** Deleting file 'victim'" in err
    assert "Target 'all' not remade because of errors." in err
    starts = (tmp_path / "starts.log").read_text().split()
    assert sorted(starts) == ["ok0", "ok1", "ok2", "ok3", "victim"]  # each ran exactly once
    assert sorted(p.name for p in tmp_path.glob("ok*")) == ["ok0", "ok1", "ok2", "ok3"]
    assert not (tmp_path / "victim").exists()
    assert not (tmp_path / "after").exists()
    _wait_for(lambda: not alive(sleeper), 10, "the orphaned recipe's child to be killed")
    if cluster == "commands":
        commands.client.wait_for_workers(2, timeout=60)  # the nanny restarts the worker


# --------------------------------------------------------------------------------------------
# The main job (the top-level tasks.py) on a loopback cluster of minimake's own


def test_the_main_job_gives_the_same_results_as_the_process_pool(tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    results = {}
    for executor in ("process", "dask"):
        folder = tmp_path / executor
        folder.mkdir()
        shutil.copy(REPO / "tasks.py", folder / "tasks.py")
        run = cli("-j2", "GRID=small", "--executor", executor, cwd=folder, timeout=300)
        assert run.returncode == 0, run.stderr
        rows = (folder / "dist" / "results.csv").read_text().splitlines()
        best = json.loads((folder / "dist" / "best.json").read_text())
        # fit_seconds (the last column) is a timing; everything else must agree.
        results[executor] = ([row.rsplit(",", 1)[0] for row in rows], best)
    assert results["dask"] == results["process"]
    assert len(results["dask"][0]) == 1 + results["dask"][1]["trials"]
