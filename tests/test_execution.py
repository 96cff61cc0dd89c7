"""The execution layer with real processes: scale, dying workers, output of any size, make's
exec failures, the environment, and the thread executor.

Nothing here is timed. Waiting for a process to end uses a pidfd (a blocking wait on the
kernel's event), concurrency is proven by rendezvous, and the bound on memory is read from
the kernel's own accounting.
"""

from __future__ import annotations

import errno
import os
import re
import select
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

import minimake
from minimake.execution import spawn
from minimake.execution.capture import Capture, Captured, FilePool
from minimake.execution.latency import SLICE_NS, short_slice
from minimake.execution.recipes import ShellSpec
from tests.conftest import RecordingReporter, cli, environment, write_tasks


def _merged(command: list[str], cwd: Path) -> str:
    """What ``command`` prints with stdout and stderr as one file, as on a terminal."""
    run = subprocess.run(
        command,
        cwd=cwd,
        env=environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=True,
    )
    return run.stdout


def _wait_gone(pid: int, within: float = 30.0) -> bool:
    """Whether process ``pid`` ends within ``within`` seconds (a safety net, not a measure)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        ready, _, _ = select.select([fd], [], [], within)
        return bool(ready)
    finally:
        os.close(fd)


# --- scale


def test_twenty_thousand_shell_recipes_all_run(tmp_path: Path) -> None:
    count = 20_000
    write_tasks(
        tmp_path,
        f"""
        from minimake import phony, task
        for n in range({count}):
            task(f"out/{{n}}.txt", order_only=["out"], recipe=f"touch out/{{n}}.txt")
        task("out", recipe="mkdir -p out")
        phony("all", deps=[f"out/{{n}}.txt" for n in range({count})], default=True)
        """,
    )
    run = cli("-j4", "--progress", "off", "-s", cwd=tmp_path, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    assert len(os.listdir(tmp_path / "out")) == count
    # Every capture file was removed once its task's output was replayed.
    assert os.listdir(tmp_path / ".minimake" / "out") == []


def test_four_thousand_python_recipes_all_run(tmp_path: Path) -> None:
    count = 4_000
    write_tasks(
        tmp_path,
        f"""
        from minimake import phony, task

        def write(path):
            with open(path, "w") as file:
                file.write(path)

        for n in range({count}):
            task(f"out/{{n}}.txt", order_only=["out"], recipe=write, args=(f"out/{{n}}.txt",))
        task("out", recipe="mkdir -p out")
        phony("all", deps=[f"out/{{n}}.txt" for n in range({count})], default=True)
        """,
    )
    run = cli("-j2", "--progress", "off", "-s", cwd=tmp_path, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    names = os.listdir(tmp_path / "out")
    assert len(names) == count
    assert all((tmp_path / "out" / name).read_text() == f"out/{name}" for name in names[:50])


# --- output


def test_a_background_child_holding_stdout_does_not_hold_the_build(tmp_path: Path) -> None:
    write_tasks(
        tmp_path,
        """
        from minimake import task
        task("bg.txt", recipe="sleep 600 & echo $! > bg.pid; echo started > bg.txt")
        """,
    )
    run = cli("--progress", "off", cwd=tmp_path, timeout=300)
    assert run.returncode == 0, run.stderr
    pid = int((tmp_path / "bg.pid").read_text())
    try:
        # minimake is done while the background job, which keeps stdout open, still runs.
        os.kill(pid, 0)
    finally:
        os.kill(pid, signal.SIGKILL)
    assert (tmp_path / "bg.txt").read_text() == "started\n"


def test_stderr_stays_apart_from_stdout(tmp_path: Path) -> None:
    write_tasks(
        tmp_path,
        """
        from minimake import task
        def python():
            import sys
            print("py out")
            print("py err", file=sys.stderr)
        task("a", recipe="echo out; echo err >&2")
        task("b", recipe=python)
        """,
    )
    run = cli("-s", "--progress", "off", "a", "b", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "out\n" in run.stdout
    assert "py out\n" in run.stdout
    assert "err" not in run.stdout
    assert "err\n" in run.stderr
    assert "py err\n" in run.stderr


def test_one_file_keeps_the_order_of_stdout_and_stderr(tmp_path: Path) -> None:
    write_tasks(
        tmp_path,
        """
        from minimake import task
        task("a", recipe="echo 1; echo 2 >&2; echo 3")
        """,
    )
    merged = _merged([sys.executable, "-m", "minimake", "--progress", "off", "-s"], tmp_path)
    assert merged == "1\n2\n3\n"


MEASURE = """
import resource, subprocess, sys
with open(sys.argv[1], "wb") as out:
    code = subprocess.call([sys.executable, "-m", "minimake", "--progress", "off", "-s"],
                           stdout=out)
print(code, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


@pytest.mark.parametrize("kind", ["shell", "python"])
def test_memory_does_not_grow_with_output(tmp_path: Path, kind: str) -> None:
    size = 100_000_000
    recipe = (
        f'"yes 0123456789abcdefghijklmnopqrstuvwxyz | head -c {size}"'
        if kind == "shell"
        else "python"
    )
    write_tasks(
        tmp_path,
        f"""
        from minimake import task
        def python():
            import sys
            line = "0123456789abcdefghijklmnopqrstuvwxyz\\n" * 1000
            for _ in range({size} // len(line)):
                sys.stdout.write(line)
        task("big", recipe={recipe})
        """,
    )
    # A process of its own measures minimake alone: RUSAGE_CHILDREN is the peak of the
    # largest child it waited for.
    measured = subprocess.run(
        [sys.executable, "-c", MEASURE, str(tmp_path / "stdout")],
        cwd=tmp_path,
        env=environment(),
        capture_output=True,
        text=True,
        check=True,
    )
    code, peak_kib = map(int, measured.stdout.split())
    assert code == 0
    assert os.path.getsize(tmp_path / "stdout") >= size * 0.99  # the output is complete
    assert peak_kib < 250 * 1024, f"peak RSS {peak_kib} KiB"


# --- what recipes see


def test_eight_thousand_deps_do_not_overflow_the_environment(tmp_path: Path) -> None:
    deps = [f"inputs/some-longer-file-name-{n:05}.txt" for n in range(8000)]
    (tmp_path / "inputs").mkdir()
    for dep in deps:
        (tmp_path / dep).write_text("x")
    write_tasks(
        tmp_path,
        """
        import os
        from minimake import task
        deps = sorted("inputs/" + name for name in os.listdir("inputs"))
        task("plain.txt", deps=deps, recipe="touch plain.txt")
        task("count.txt", deps=deps, recipe='wc -l < "$DEPS_FILE" > count.txt; echo "[$DEPS]"')
        """,
    )
    run = cli("--progress", "off", "plain.txt", "count.txt", cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    assert (tmp_path / "plain.txt").exists()
    assert (tmp_path / "count.txt").read_text().strip() == "8000"
    assert "[]" in run.stdout  # $DEPS itself is unset: the list is in $DEPS_FILE


def test_a_short_deps_list_stays_in_the_environment(tmp_path: Path) -> None:
    write_tasks(
        tmp_path,
        """
        from minimake import task
        task("a.txt", recipe="touch a.txt")
        task("b.txt", recipe="touch b.txt")
        task("c.txt", deps=["a.txt", "b.txt", "a.txt"],
             recipe='echo "$TARGET|$TARGETS|$DEP|$DEPS|${DEPS_FILE-unset}" > c.txt')
        """,
    )
    run = cli("--progress", "off", "c.txt", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "c.txt").read_text() == "c.txt|c.txt|a.txt|a.txt b.txt|unset\n"


EXEC_FAILURES = {
    "missing": "./prog",
    "folder": "./folder",
    "not-executable": "./script",
    "unknown-command": "no-such-command-here x",
}


def test_commands_that_cannot_be_exec_d_fail_as_in_make(tmp_path: Path) -> None:
    (tmp_path / "folder").mkdir()
    (tmp_path / "script").write_text("echo hi\n")
    makefile = "".join(f"{name}:\n\t{line}\n" for name, line in EXEC_FAILURES.items())
    makefile += f".PHONY: {' '.join(EXEC_FAILURES)}\n"
    (tmp_path / "Makefile").write_text(makefile)
    write_tasks(
        tmp_path,
        "from minimake import phony\n"
        + "".join(f"phony({name!r}, recipe={line!r})\n" for name, line in EXEC_FAILURES.items()),
    )
    for number, name in enumerate(EXEC_FAILURES, start=1):
        make = subprocess.run(
            ["make", "-s", name], cwd=tmp_path, capture_output=True, text=True, check=False
        )
        ours = cli("-s", "--progress", "off", name, cwd=tmp_path)
        assert ours.returncode == make.returncode == 2
        expected = make.stderr.replace("make:", "minimake:").replace(
            f"[Makefile:{2 * number}:", f"[tasks.py:{number + 1}:"
        )
        assert ours.stderr == expected
        assert "/bin/sh" not in ours.stderr


def test_a_script_without_a_shebang_runs_through_the_shell_as_in_make(tmp_path: Path) -> None:
    script = tmp_path / "script"
    script.write_text("echo from the script > out.txt\n")
    script.chmod(0o755)
    write_tasks(tmp_path, 'from minimake import task\ntask("out.txt", recipe="./script")\n')
    run = cli("--progress", "off", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "out.txt").read_text() == "from the script\n"


def test_python_recipes_leave_the_worker_as_they_found_it(tmp_path: Path) -> None:
    write_tasks(
        tmp_path,
        """
        import os
        from minimake import task
        def meddle():
            os.chdir("/")
            os.umask(0o077)
            os.environ["MEDDLED"] = "yes"
            open(os.path.join(os.environ["PROJECT"], "a.txt"), "w").close()
        def look():
            mask = os.umask(0)
            os.umask(mask)
            with open("b.txt", "w") as out:
                out.write(f"{os.getcwd()}|{mask:o}|{os.environ.get('MEDDLED', '-')}")
        task("a.txt", recipe=meddle)
        task("b.txt", deps=["a.txt"], recipe=look)
        """,
    )
    mask = os.umask(0o022)
    os.umask(mask)
    run = cli("-j1", "--progress", "off", "b.txt", cwd=tmp_path, env={"PROJECT": str(tmp_path)})
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "b.txt").read_text() == f"{tmp_path}|{mask:o}|-"


# --- workers die with minimake


WORKER = """
import os, subprocess
from minimake import task
def hold():
    child = subprocess.Popen(["sleep", "600"])
    with open("pids", "w") as fifo:
        fifo.write(f"{os.getpid()} {child.pid}\\n")
    os.read(os.open("never", os.O_RDONLY), 1)
task("a.txt", recipe=hold)
"""


@pytest.mark.parametrize("method", ["fork", "forkserver", "spawn"])
def test_workers_and_their_children_end_with_a_killed_minimake(tmp_path: Path, method: str) -> None:
    write_tasks(tmp_path, WORKER)
    os.mkfifo(tmp_path / "pids")
    os.mkfifo(tmp_path / "never")
    process = subprocess.Popen(
        [sys.executable, "-m", "minimake", "--progress", "off"],
        cwd=tmp_path,
        env={**environment(), "MINIMAKE_START_METHOD": method},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    with open(tmp_path / "pids") as fifo:  # the recipe is running once it writes here
        worker, child = map(int, fifo.read().split())
    process.kill()
    process.wait()
    assert _wait_gone(worker), "the worker outlived minimake"
    assert _wait_gone(child), "the recipe's child outlived minimake"


# --- the thread executor


THREADS = """
import os, sys, threading
from minimake import phony, task
meet = threading.Barrier(2, timeout=60)

def talk(name):
    for turn in range(3):
        meet.wait()  # both recipes print at once, turn by turn
        print(f"{name} {turn}")
        print(f"{name} err {turn}", file=sys.stderr)
    with open(f"{name}.txt", "w") as out:
        out.write(f"{os.getcwd()}|{sys.stdin.read()!r}")

def wander():
    os.chdir("/")

task("a.txt", recipe=talk, args=("a",))
task("b.txt", recipe=talk, args=("b",))
task("w", recipe=wander)
phony("all", deps=["a.txt", "b.txt"], default=True)
"""


THREAD = ("--executor", "thread", "--progress", "off")


def test_the_thread_executor_captures_each_task_apart_in_the_project_folder(
    tmp_path: Path,
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    write_tasks(project, THREADS)
    run = subprocess.run(
        [sys.executable, "-m", "minimake", "-f", str(project / "tasks.py"), "-j2", "-s", *THREAD],
        cwd=tmp_path,
        env=environment(),
        stdin=subprocess.PIPE,  # open and never written: a recipe reading it would hang
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    blocks = run.stdout.split("\n")
    # Each task's three lines form one block, though the two tasks printed turn by turn.
    first = blocks[0].split()[0]
    second = "b" if first == "a" else "a"
    assert blocks[:6] == [f"{first} {n}" for n in range(3)] + [f"{second} {n}" for n in range(3)]
    assert "a err 0" in run.stderr
    assert "a 0" not in run.stderr
    for name in ("a", "b"):
        assert (project / f"{name}.txt").read_text() == f"{project}|''"


def test_the_thread_executor_refuses_a_recipe_that_changes_the_folder(tmp_path: Path) -> None:
    write_tasks(tmp_path, THREADS)
    before = os.getcwd()
    result = minimake.build(tmp_path / "tasks.py", ["w"], executor="thread")
    assert os.getcwd() == before
    failure = result.tasks["w"]
    assert failure.status is minimake.Status.FAILED
    assert failure.outcome is not None
    assert failure.outcome.error is not None
    assert "changed the working directory" in failure.outcome.error


def test_shell_and_python_recipes_share_one_jobs_bound(tmp_path: Path) -> None:
    write_tasks(
        tmp_path,
        textwrap.dedent(
            """
            import os
            from minimake import phony, task
            def python(name):
                with open("events", "a") as log:
                    log.write(f"start {name}\\n")
                with open("events", "a") as log:
                    log.write(f"end {name}\\n")
            names = []
            for n in range(20):
                task(f"s{n}", recipe=f"echo start s{n} >> events; echo end s{n} >> events")
                task(f"p{n}", recipe=python, args=(f"p{n}",))
                names += [f"s{n}", f"p{n}"]
            phony("all", deps=names, default=True)
            """
        ),
    )
    run = cli("-j2", "--progress", "off", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    running, most = set(), 0
    for line in (tmp_path / "events").read_text().splitlines():
        event, name = line.split()
        if event == "start":
            running.add(name)
        else:
            running.discard(name)
        most = max(most, len(running))
    assert 1 <= most <= 2


def test_ignored_errors_are_said_after_each_failing_line_as_in_make(tmp_path: Path) -> None:
    (tmp_path / "Makefile").write_text('a:\n\tfalse\n\techo next\n\tsh -c "exit 3"\n')
    recipe = ["false", "echo next", 'sh -c "exit 3"']
    write_tasks(tmp_path, f"from minimake import phony\nphony('a', recipe={recipe!r})\n")

    def both(command: list[str]) -> str:
        text = re.sub(r"^(mini)?make:", "PROGRAM:", _merged(command, tmp_path), flags=re.M)
        return re.sub(r"\[(Makefile|tasks\.py):\d+: ", "[LOCATION: ", text)

    make = both(["make", "-i", "a"])
    ours = both([sys.executable, "-m", "minimake", "-i", "--progress", "off", "a"])
    assert ours == make
    assert make.count("(ignored)") == 2


# --- the shell executor: reaped by the thread that waits


def test_a_shell_build_runs_no_thread_of_its_own(tmp_path: Path) -> None:
    """Both recipes run at once (each waits for the other through a pipe), and no thread but
    the caller's exists at any event: the scheduler's wait reaps the lines itself."""
    os.mkfifo(tmp_path / "a-to-b")
    os.mkfifo(tmp_path / "b-to-a")
    threads: list[int] = []

    class Counting(RecordingReporter):
        def started(self, task, reason, lines):  # type: ignore[no-untyped-def]
            threads.append(threading.active_count())
            super().started(task, reason, lines)

        def finished(self, task, result, ignored=False):  # type: ignore[no-untyped-def]
            threads.append(threading.active_count())
            super().finished(task, result, ignored)

    tasks = [
        minimake.Task.create("a", recipe="echo hi > a-to-b; cat b-to-a > a"),
        minimake.Task.create("b", recipe="cat a-to-b > b; echo hi > b-to-a"),
    ]
    before = threading.active_count()
    result = minimake.build(tasks, ["a", "b"], jobs=2, reporter=Counting(), root=tmp_path)
    assert result.ok
    assert (tmp_path / "a").read_text() == "hi\n" == (tmp_path / "b").read_text()
    assert threads == [before] * 4


def test_a_shell_recipes_future_completes_when_asked_for_its_result(tmp_path: Path) -> None:
    """Nobody else waits: ``result()`` reaps the recipe's lines itself, in order."""
    executor = spawn.ShellExecutor()
    capture = Capture.under(str(tmp_path), combined=True)
    spec = ShellSpec("t", str(tmp_path), ("echo one > out", "echo two >> out"), capture)
    try:
        outcome = executor.submit(spawn.run, spec).result(timeout=60)
    finally:
        executor.shutdown()
    assert outcome.ok
    assert (tmp_path / "out").read_text() == "one\ntwo\n"


def test_without_pidfds_each_line_is_awaited_by_a_thread_and_the_build_is_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Kernels before 5.3 (and some sandboxes) have no pidfd_open: a thread per running line
    waits for it instead. Two recipes that need each other running at once, lines run in
    order, a failing line, and a background child that keeps stdout open behave as with
    pidfds, and the waiting threads are gone afterwards."""

    def no_pidfds(pid: int, flags: int = 0) -> int:
        raise OSError(errno.ENOSYS, os.strerror(errno.ENOSYS))

    monkeypatch.setattr(os, "pidfd_open", no_pidfds)
    os.mkfifo(tmp_path / "a-to-b")
    os.mkfifo(tmp_path / "b-to-a")
    tasks = [
        minimake.Task.create("a", recipe="echo hi > a-to-b; cat b-to-a > a"),
        minimake.Task.create("b", recipe="cat a-to-b > b; echo hi > b-to-a"),
        minimake.Task.create("lines", recipe=["echo one > lines", "echo two >> lines"]),
        minimake.Task.create("bad", recipe=["echo before > bad", "exit 3", "echo never >> bad"]),
        minimake.Task.create("bg", recipe="sleep 600 & echo $! > bg.pid; echo started > bg"),
    ]
    threads: list[int] = []

    class Counting(RecordingReporter):
        def started(self, task, reason, lines):  # type: ignore[no-untyped-def]
            threads.append(threading.active_count())
            super().started(task, reason, lines)

    before, existing = threading.active_count(), set(threading.enumerate())
    result = minimake.build(
        tasks, [t.name for t in tasks], jobs=2, keep_going=True, reporter=Counting(), root=tmp_path
    )
    pid = int((tmp_path / "bg.pid").read_text())
    try:
        os.kill(pid, 0)  # the build ended while the background job still runs
    finally:
        os.kill(pid, signal.SIGKILL)
    statuses = {name: r.status for name, r in result.tasks.items()}
    assert statuses == {
        "a": minimake.Status.RAN,
        "b": minimake.Status.RAN,
        "lines": minimake.Status.RAN,
        "bad": minimake.Status.FAILED,
        "bg": minimake.Status.RAN,
    }
    outcome = result.tasks["bad"].outcome
    assert outcome is not None
    assert outcome.returncode == 3
    assert (tmp_path / "a").read_text() == "hi\n" == (tmp_path / "b").read_text()
    assert (tmp_path / "lines").read_text() == "one\ntwo\n"
    assert not (tmp_path / "bad").exists()  # make's .DELETE_ON_ERROR: the failed line's target
    assert (tmp_path / "bg").read_text() == "started\n"
    # Whichever of a and b starts second, the other one waits for it in the fifo, and so
    # does that line's thread. Each thread ends with its line.
    assert max(threads) > before
    # None is left waiting: each has ended, or is about to, having handed its line over.
    left = [thread for thread in threading.enumerate() if thread not in existing]
    for thread in left:
        thread.join(timeout=60)
    assert not [thread for thread in left if thread.is_alive()]


def test_a_line_started_as_an_interrupt_arrives_is_still_stopped_and_reaped(
    tmp_path: Path,
) -> None:
    """Ctrl-C's KeyboardInterrupt can land between starting a line and watching it (here,
    in the callback that records its process group): the line must still be one of the
    groups a stop signals, and a wait must reap it, or it would outlive the build."""
    pids: list[int] = []

    def interrupted(task: str, group: int) -> None:
        pids.append(group)
        raise KeyboardInterrupt

    executor = spawn.ShellExecutor(started=interrupted)
    capture = Capture.under(str(tmp_path), combined=True)
    spec = ShellSpec("t", str(tmp_path), ("sleep 1000",), capture)
    try:
        with pytest.raises(KeyboardInterrupt):
            executor.submit(spawn.run, spec)
        assert executor.running_groups() == set(pids)
        os.killpg(pids[0], signal.SIGKILL)
    finally:
        executor.shutdown()  # waits for (reaps) every line it watches
    assert not Path(f"/proc/{pids[0]}").exists()


def test_an_interrupt_between_two_lines_ends_the_recipe_s_future(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C's KeyboardInterrupt right after a line was reaped and before the next one
    starts: no line runs, so nothing would ever complete the recipe's Future, and whoever
    waits for it after the interrupt would wait in vain."""
    ended = spawn._Job.ended

    def interrupted(job: spawn._Job, status: int) -> None:
        ended(job, status)
        raise KeyboardInterrupt

    monkeypatch.setattr(spawn._Job, "ended", interrupted)
    executor = spawn.ShellExecutor()
    capture = Capture.under(str(tmp_path), combined=True)
    spec = ShellSpec("t", str(tmp_path), ("touch first", "touch second"), capture)
    try:
        future = executor.submit(spawn.run, spec)
        with pytest.raises(KeyboardInterrupt):
            executor.wait([future])
        assert future.done()
    finally:
        executor.shutdown()
    assert (tmp_path / "first").exists()
    assert not (tmp_path / "second").exists()


# --- capture files, used again from task to task


def _taken(pool: FilePool) -> Captured:
    """A task's files from the pool, as a recipe that has ended and closed its output."""
    captured, out, _ = pool.take()  # one descriptor for both: the capture is combined
    os.close(out)
    return captured


def test_a_capture_file_is_empty_whenever_a_task_is_handed_it(tmp_path: Path) -> None:
    pool = FilePool(Capture.under(str(tmp_path), combined=True))
    try:
        first, out, _ = pool.take()
        os.write(out, b"the first task's output\n")
        os.close(out)
        first.discard()  # nobody else holds it: back into the pool
        second = _taken(pool)
        assert second.stdout == first.stdout
        assert os.path.getsize(second.stdout) == 0
        second.discard()  # it stayed empty: handed out again as it is
        third = _taken(pool)
        assert third.stdout == first.stdout
        assert os.path.getsize(third.stdout) == 0
    finally:
        pool.close()


def test_a_capture_file_another_process_holds_is_never_handed_out_again(tmp_path: Path) -> None:
    pool = FilePool(Capture.under(str(tmp_path), combined=True))
    captured, out, _ = pool.take()
    # A recipe's background job that keeps its stdout: it may write into it at any time.
    holder = subprocess.Popen(["sleep", "600"], stdout=out)
    os.close(out)
    try:
        captured.discard()
        again = _taken(pool)
        assert again.stdout != captured.stdout
        again.discard()
        once_more = _taken(pool)  # the pool's free file, never the one still held
        assert once_more.stdout == again.stdout
    finally:
        holder.kill()
        holder.wait()
        pool.close()


def test_a_capture_file_set_aside_is_used_again_once_nobody_holds_it(tmp_path: Path) -> None:
    """A recipe that has just exited still holds its capture file for a moment (the kernel
    closes an exiting process's files a tick later): the file is tested again, not thrown away
    and created anew, which cost a file system journal entry each time."""
    pool = FilePool(Capture.under(str(tmp_path), combined=True))
    try:
        captured = _taken(pool)
        holder = os.open(captured.stdout, os.O_WRONLY | os.O_APPEND)  # a description elsewhere
        captured.discard()  # refused the lease: set aside
        other = _taken(pool)
        assert other.stdout != captured.stdout
        os.write(holder, b"written late\n")
        os.close(holder)
        again = _taken(pool)  # nothing free: the file set aside is free now
        assert again.stdout == captured.stdout
        assert os.path.getsize(again.stdout) == 0
    finally:
        pool.close()


def test_at_most_a_few_capture_files_are_set_aside(tmp_path: Path) -> None:
    pool = FilePool(Capture.under(str(tmp_path), combined=True))
    taken = [pool.take() for _ in range(FilePool.HELD + 2)]
    holders = [os.open(captured.stdout, os.O_RDONLY) for captured, _, _ in taken]
    try:
        for captured, out, _ in taken:
            os.close(out)
            captured.discard()
        kept = [os.path.exists(captured.stdout) for captured, _, _ in taken]
        assert kept == [False, False] + [True] * FilePool.HELD  # the oldest went first
    finally:
        for holder in holders:
            os.close(holder)
        pool.close()


# --- the scheduling hint of the thread that waits (latency.py)


def _slice(pid: str = "thread-self") -> int | None:
    """The scheduler's slice of a thread or process, in ns, as /proc shows it."""
    try:
        lines = Path(f"/proc/{pid}/sched").read_text().splitlines()
    except OSError:
        return None
    found = [line.split(":")[1] for line in lines if line.startswith("se.slice ")]
    return int(found[0]) if found else None


def test_the_waiting_thread_has_a_short_slice_that_recipes_never_inherit(tmp_path: Path) -> None:
    before = _slice()
    with short_slice() as hinted:
        during = _slice()
    if before is None or not hinted or during == before:
        pytest.skip("this kernel grants no slice of a thread's own choosing")
    assert during == SLICE_NS
    assert _slice() == before
    seen: list[int | None] = []

    class Watching(RecordingReporter):
        def finished(self, task, result, ignored=False):  # type: ignore[no-untyped-def]
            seen.append(_slice())
            super().finished(task, result, ignored)

    tasks = [
        minimake.Task.create(f"slice{i}", recipe=f"grep '^se.slice ' /proc/self/sched > slice{i}")
        for i in range(2)
    ]
    result = minimake.build(tasks, ["slice0", "slice1"], jobs=2, reporter=Watching(), root=tmp_path)
    assert result.ok
    assert seen == [SLICE_NS, SLICE_NS]  # the thread that starts and reaps recipes
    for i in range(2):
        assert int((tmp_path / f"slice{i}").read_text().split(":")[1]) == before
    assert _slice() == before  # given back when the build ends
