"""The process pool's isolation: a worker's death or a recipe's time limit costs only that
recipe; workers start as recipes need them, start from default signal dispositions, never
hand a recipe the files the last one left open, and never keep minimake from exiting.

Nothing here waits on a clock: recipes meet through files (one waits until another has
written its mark, or until a process is gone, which a pidfd tells), and the only timed thing
is a time limit itself, whose expiry is what the test is about.
"""

from __future__ import annotations

import os
import pickle
import re
import signal
import sys
from pathlib import Path

import pytest

from minimake.execution import spawn
from minimake.execution.capture import Capture
from minimake.execution.pool import process_pool, run
from minimake.execution.recipes import PythonSpec
from minimake.result import Outcome
from tests.conftest import alive, cli, start, write_tasks
from tests.test_processes import _wait_ready

# Helpers the tasks files below share: wait for a file, wait for a process to end.
MEET = """
import os, select, subprocess, sys, time
from minimake import phony, task

def wait_for(path, lines=1):
    while not os.path.exists(path) or len(open(path).read().split()) < lines:
        time.sleep(0.01)

def wait_gone(pid):
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    select.select([fd], [], [])
    os.close(fd)
"""

BYSTANDERS = (
    MEET
    + """
def long(name):
    with open("starts.log", "a") as log:
        log.write(name + "\\n")
    wait_for("dying.pid")
    wait_gone(int(open("dying.pid").read()))
    with open(name, "w") as out:
        out.write("whole")

def dying():
    wait_for("starts.log", lines=2)  # both long recipes run now
    with open("dying.pid", "w") as out:
        out.write(str(os.getpid()))
    os._exit(7)

task("long1", recipe=long, args=("long1",))
task("long2", recipe=long, args=("long2",))
task("dies", recipe=dying)
phony("all", deps=["long1", "long2", "dies"], default=True)
"""
)


@pytest.mark.parametrize("method", ["fork", "forkserver", "spawn"])
def test_a_dying_worker_fails_its_task_and_never_touches_the_others(
    tmp_path: Path, method: str
) -> None:
    write_tasks(tmp_path, BYSTANDERS)
    env = {"MINIMAKE_START_METHOD": method}
    run = cli("-j3", "-k", "--progress", "off", cwd=tmp_path, env=env)
    assert run.returncode == 2
    assert re.search(r"\[tasks.py:\d+: dies\] Worker process died \(exit code 7\)", run.stderr)
    # Each long recipe started once and finished in its own time, after the death.
    assert sorted((tmp_path / "starts.log").read_text().split()) == ["long1", "long2"]
    assert (tmp_path / "long1").read_text() == "whole"
    assert (tmp_path / "long2").read_text() == "whole"
    assert "Deleting" not in run.stderr


TIMED = (
    MEET
    + """
def slow_python(path):
    child = subprocess.Popen(["sleep", "600"])  # in the worker's group
    with open("py.child", "w") as out:
        out.write(str(child.pid))
    with open(path, "w") as out:
        out.write("partial")
    time.sleep(600)

def bystander():
    # Runs beside both, and ends after both are stopped: they are stopped alone.
    wait_for("py.child")
    wait_for("sh.child")
    wait_gone(int(open("py.child").read()))
    wait_gone(int(open("sh.child").read()))
    open("bystander", "w").write("whole")

task("py.out", recipe=slow_python, args=("py.out",), timeout=0.5)
task("sh.out", recipe=["true", "echo partial > sh.out; sleep 600 & echo $! > sh.child; wait"],
     timeout=0.5)
task("after", deps=["py.out"], recipe="touch after")
task("bystander", recipe=bystander)
phony("all", deps=["after", "sh.out", "bystander"], default=True)
"""
)


def test_a_recipe_over_its_time_limit_fails_alone_and_its_group_goes(tmp_path: Path) -> None:
    write_tasks(tmp_path, TIMED)
    run = cli("-j3", "-k", "--progress", "off", cwd=tmp_path)
    assert run.returncode == 2
    for name in ("py.out", "sh.out"):
        said = rf"minimake: \*\*\* \[tasks.py:\d+: {name}\] Timed out after 0.5s"
        assert re.search(said, run.stderr), run.stderr
    assert "Deleting file 'py.out'" in run.stderr
    assert "Deleting file 'sh.out'" in run.stderr
    assert not (tmp_path / "py.out").exists()
    assert not (tmp_path / "sh.out").exists()
    assert not (tmp_path / "after").exists()  # blocked, as by any failure
    assert (tmp_path / "bystander").read_text() == "whole"
    for name in ("py.child", "sh.child"):
        assert not alive(int((tmp_path / name).read_text()))


def test_the_command_line_s_timeout_covers_tasks_that_set_none(tmp_path: Path) -> None:
    """``slow`` has the command line's limit; ``own`` outlives it (it ends only once ``slow``
    is gone), under its own."""
    write_tasks(
        tmp_path,
        """
        from minimake import task
        task("slow", recipe="echo $$ > slow.pid; exec sleep 600")
        task("own", recipe="until test -s slow.pid; do sleep 0.01; done; "
                           "while kill -0 $(cat slow.pid) 2>/dev/null; do sleep 0.01; done; "
                           "touch own", timeout=600)
        """,
    )
    run = cli("--timeout", "0.2", "-k", "-j2", "slow", "own", cwd=tmp_path)
    assert run.returncode == 2
    assert "minimake: *** [tasks.py:3: slow] Timed out after 0.2s" in run.stderr
    assert (tmp_path / "own").exists()


def test_a_time_limit_the_thread_executor_cannot_enforce_is_said_before_anything_runs(
    tmp_path: Path,
) -> None:
    """A thread cannot be stopped: the build runs, after one warning that names the task whose
    limit goes unenforced (the main job's trials have limits, and a thread run must work)."""
    write_tasks(
        tmp_path,
        """
        from minimake import task
        def write():
            open("x", "w").close()
        task("x", recipe=write, timeout=5)
        task("y", deps=["x"], recipe="touch y", timeout=5)
        """,
    )
    run = cli("--executor", "thread", "y", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    warning = "warning: time limits are not enforced on the thread executor"
    assert run.stderr.count(warning) == 1
    assert "'x' runs without one" in run.stderr
    assert (tmp_path / "y").exists()


def test_the_runs_time_limit_leaves_a_console_task_alone(tmp_path: Path) -> None:
    """A console task runs in minimake's own process group, where a time limit could stop
    nothing: --timeout says so and leaves it to end by itself, rather than stopping nothing
    and calling it timed out. The limit here has passed long before the recipe, which waits
    for the test, ends."""
    write_tasks(
        tmp_path,
        """
        from minimake import phony
        phony("ask", recipe='echo started > a.fifo; read x < b.fifo; echo "got $x"', console=True)
        """,
    )
    os.mkfifo(tmp_path / "a.fifo")
    os.mkfifo(tmp_path / "b.fifo")
    with start("--timeout", "0.000001", "ask", cwd=tmp_path) as run:
        assert (tmp_path / "a.fifo").read_text() == "started\n"
        (tmp_path / "b.fifo").write_text("yes\n")
        out, err = run.communicate(timeout=60)
    assert run.returncode == 0, err
    assert "got yes" in out
    assert "warning: --timeout does not limit console tasks: 'ask' runs without one" in err
    assert "Timed out" not in err


@pytest.mark.parametrize("bad", ["0", "-1", "nan", "inf"])
def test_a_timeout_that_is_no_positive_number_is_refused(tmp_path: Path, bad: str) -> None:
    write_tasks(tmp_path, "from minimake import task\ntask('x', recipe='true')\n")
    run = cli(f"--timeout={bad}", cwd=tmp_path)
    assert run.returncode == 2
    assert "'timeout' must be a positive number of seconds" in run.stderr


# --- signal dispositions


def test_recipes_start_with_the_default_signal_dispositions(tmp_path: Path) -> None:
    """Python ignores SIGPIPE, and children inherit that: the first pipeline would never end,
    the others would say "Broken pipe" (cli's timeout catches a hang)."""
    write_tasks(
        tmp_path,
        """
        import os
        from minimake import task, phony
        def python(path):
            assert os.system("yes | head -1 > " + path) == 0
        task("loop", recipe="sh -c 'while :; do echo y; done | head -1 > loop'")
        task("yes", recipe="yes | head -1 > yes")
        task("py", recipe=python, args=("py",))
        phony("all", deps=["loop", "yes", "py"], default=True)
        """,
    )
    run = cli("-j3", "--progress", "off", cwd=tmp_path, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "Broken pipe" not in run.stdout + run.stderr
    assert [(tmp_path / n).read_text() for n in ("loop", "yes", "py")] == ["y\n"] * 3


# --- what a recipe leaves behind


def test_files_a_recipe_leaves_open_are_never_the_next_recipe_s(tmp_path: Path) -> None:
    write_tasks(
        tmp_path,
        """
        import os
        from minimake import task
        def leak(path):
            fd = os.open("leaked", os.O_WRONLY | os.O_CREAT)
            open(path, "w").write(str(fd))
        def innocent(path):
            number = int(open("a").read())
            try:
                held = os.readlink(f"/proc/self/fd/{number}")
            except OSError:
                held = ""
            assert not held.endswith("leaked"), "the last recipe's file is still open"
            open(path, "w").close()
        task("a", recipe=leak, args=("a",))
        task("b", deps=["a"], recipe=innocent, args=("b",))
        """,
    )
    run = cli("-j1", "b", cwd=tmp_path)
    assert run.returncode == 0, run.stderr


def test_a_thread_a_recipe_leaves_running_never_keeps_minimake_from_exiting(
    tmp_path: Path,
) -> None:
    write_tasks(
        tmp_path,
        """
        import threading, time
        from minimake import task
        def lingering(path):
            threading.Thread(target=time.sleep, args=(3600,)).start()  # not a daemon
            open(path, "w").close()
        task("x", recipe=lingering, args=("x",))
        """,
    )
    run = cli(cwd=tmp_path, timeout=60)
    assert run.returncode == 0, run.stderr


# --- the pool itself


def _spec(tmp_path: Path, name: str) -> PythonSpec:
    call = (_touch, (str(tmp_path / name),), {})
    capture = Capture(str(tmp_path), combined=True)
    return PythonSpec(name, str(tmp_path), capture, payload=pickle.dumps(call))


def _touch(path: str) -> None:
    open(path, "w").close()


def test_workers_start_only_as_recipes_need_them(tmp_path: Path) -> None:
    started: list[int] = []
    pool = process_pool(50, spawned=lambda task, pid: started.append(pid))
    try:
        for name in ("a", "b", "c"):  # one after another: one worker serves them all
            outcome: Outcome = pool.submit(run, _spec(tmp_path, name)).result(timeout=60)
            assert outcome.ok, outcome.error
    finally:
        pool.shutdown()
    assert len(started) == 1


def test_waking_a_shell_executor_after_its_shutdown_writes_nothing() -> None:
    """A Python recipe's end wakes the shell executor from the pool's thread, which may come
    after the build closed it: a closed (or reused) descriptor must never get the write."""
    executor = spawn.ShellExecutor()
    executor.shutdown()
    reused = os.eventfd(0, os.EFD_NONBLOCK)  # most likely the number the executor's had
    try:
        executor.wake()
        with pytest.raises(BlockingIOError):  # nothing was written to it
            os.eventfd_read(reused)
    finally:
        os.close(reused)


def test_build_takes_a_timeout_for_every_task(tmp_path: Path) -> None:
    import minimake
    from minimake import Task
    from minimake.result import Status

    tasks = [Task.create("slow", recipe="sleep 600")]
    result = minimake.build(tasks, ["slow"], root=tmp_path, timeout=0.2, journal=False)
    failed = result.tasks["slow"]
    assert failed.status is Status.FAILED
    assert failed.outcome is not None
    assert failed.outcome.timed_out == 0.2


def test_ctrl_c_during_a_time_limit_s_grace_stops_everything(tmp_path: Path) -> None:
    """The recipe ignores SIGTERM (and SIGINT) and says when SIGTERM came: Ctrl-C then stops
    it at once with the rest of the build, as any interrupt does, not after the grace."""
    stubborn = (
        "import os, signal, time\n"
        "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
        "def said(*_):\n"
        "    with open('ready.fifo', 'w') as fifo:\n"
        "        fifo.write('term\\n')\n"
        "signal.signal(signal.SIGTERM, said)\n"
        "open('stubborn.pid', 'w').write(str(os.getpid()))\n"
        "open('stubborn', 'w').write('partial')\n"
        "time.sleep(1000)\n"
    )
    (tmp_path / "stubborn.py").write_text(stubborn)
    write_tasks(
        tmp_path,
        f"""
        from minimake import task
        task("stubborn", recipe="exec {sys.executable} stubborn.py", timeout=0.3)
        """,
    )
    os.mkfifo(tmp_path / "ready.fifo")
    process = start(cwd=tmp_path)
    _wait_ready(tmp_path / "ready.fifo", {"term"}, process)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "minimake: *** [tasks.py:3: stubborn] Interrupt" in stderr
    assert not alive(int((tmp_path / "stubborn.pid").read_text()))
    assert not (tmp_path / "stubborn").exists()


def test_a_worker_retired_for_open_files_is_never_waited_for(tmp_path: Path) -> None:
    """The recipe leaves a file open (its worker retires) and a thread that never ends."""
    write_tasks(
        tmp_path,
        """
        import os, threading, time
        from minimake import task
        def both(path):
            os.open(path, os.O_WRONLY | os.O_CREAT)
            threading.Thread(target=time.sleep, args=(3600,)).start()
        def after(path):
            open(path, "w").close()
        task("a", recipe=both, args=("a",))
        task("b", deps=["a"], recipe=after, args=("b",))
        """,
    )
    run = cli("-j1", "b", cwd=tmp_path, timeout=60)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "b").exists()


def test_json_names_the_time_limit_that_stopped_a_recipe(tmp_path: Path) -> None:
    import json

    write_tasks(tmp_path, "from minimake import task\ntask('x', recipe='sleep 600', timeout=0.2)\n")
    run = cli("--json", cwd=tmp_path)
    assert run.returncode == 2
    (entry,) = json.loads(run.stdout)["tasks"]
    assert (entry["status"], entry["timed_out"]) == ("failed", 0.2)


def test_workers_of_a_forkserver_carry_the_token_of_the_build_that_started_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given two builds in one process on the forkserver start method (whose server, started by
    the first build, would pass the first build's environment on to every later worker), each
    build's Python recipe carries its own build's run token: the one a later run looks for to
    stop what a killed build left running."""
    import minimake
    from minimake import Task

    monkeypatch.setenv("MINIMAKE_START_METHOD", "forkserver")
    seen = []
    for build in ("one", "two"):
        target = tmp_path / f"{build}.txt"
        tasks = [Task.create(str(target.name), [], _write_run_token, args=(str(target),))]
        result = minimake.build(tasks, root=tmp_path, always_make=True)
        assert result.ok, result
        seen.append(target.read_text())
    assert all(seen), seen
    assert seen[0] != seen[1]


def _write_run_token(path: str) -> None:
    with open(path, "w") as out:
        out.write(os.environ.get("MINIMAKE_RUN", ""))
