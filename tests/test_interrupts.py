"""Signals at any moment, in any number: the state one signal leaves, make's exit status, and
never a traceback (the real command, ordered by FIFOs and files, never by sleeps)."""

from __future__ import annotations

import os
import select
import signal
import subprocess
from pathlib import Path

import pytest

from tests.conftest import alive, cli, start, write_tasks
from tests.test_processes import _wait_ready

# Ignores Ctrl-C and SIGTERM, and says through the FIFO each time one reaches it: minimake must
# wait its grace and then kill the group, and the test knows when that wait has begun.
STUBBORN = """\
from minimake import task
task("c.txt", recipe=(
    'if [ -n "$FAST" ]; then echo part1 > c.txt; echo part2 >> c.txt; exit 0; fi; '
    "trap 'echo signalled > ready.fifo' TERM INT; echo $$ > c.pid; echo part1 > c.txt; "
    "echo started > ready.fifo; while :; do sleep 1000 & wait; done; echo part2 >> c.txt"
))
"""


def _journal(folder: Path) -> list[list[str]]:
    text = (folder / ".minimake" / "journal").read_text()
    return [line.split("\t") for line in text.splitlines()[1:]]


@pytest.mark.parametrize(
    ("first", "more"),
    [
        (signal.SIGTERM, [signal.SIGTERM, signal.SIGINT, signal.SIGHUP]),
        (signal.SIGINT, [signal.SIGINT, signal.SIGINT]),
    ],
    ids=["timeout", "ctrl-c-twice"],
)
def test_more_signals_during_the_clean_up_end_as_one_signal(
    tmp_path: Path, first: int, more: list[int]
) -> None:
    """``timeout`` sends SIGTERM twice, and users press Ctrl-C twice: the later signals come
    while minimake waits for a recipe that ignored the first, and change nothing."""
    write_tasks(tmp_path, STUBBORN)
    os.mkfifo(tmp_path / "ready.fifo")
    process = start(cwd=tmp_path)
    _wait_ready(tmp_path / "ready.fifo", {"started"}, process)
    shell = int((tmp_path / "c.pid").read_text())
    try:
        process.send_signal(first)
        _wait_ready(tmp_path / "ready.fifo", {"signalled"}, process)  # minimake waits its grace
        for signum in more:
            process.send_signal(signum)
        _, err = process.communicate(timeout=60)
        assert process.returncode == 128 + first, err
        assert not alive(shell)
    finally:  # a recipe that ignores signals is never left behind by a failing test
        if alive(shell):
            os.killpg(shell, signal.SIGKILL)
    assert "Traceback" not in err
    assert "minimake: *** Deleting file 'c.txt'" in err
    assert not (tmp_path / "c.txt").exists()
    records = _journal(tmp_path)
    assert ["f", "c.txt"] in records
    assert records[-1] == ["x"]  # said once the group was gone, after its end
    rerun = cli(cwd=tmp_path, env={"FAST": "1"})
    assert rerun.returncode == 0, rerun.stderr
    assert (tmp_path / "c.txt").read_text() == "part1\npart2\n"


THREADED = """\
import os, time
from minimake import task

def slow():
    with open("t.txt", "w") as out:
        out.write("part1")
    if not os.path.exists("release"):  # the run the test interrupts
        with open("ready.fifo", "w") as ready:
            ready.write("started\\n")
    while not os.path.exists("release"):  # a thread cannot be stopped: it waits for its file
        time.sleep(0.01)
    with open("t.txt", "a") as out:
        out.write(" part2")

task("t.txt", recipe=slow)
"""


def _read_until(process: subprocess.Popen[str], text: str) -> str:
    """minimake's stderr up to the line holding ``text`` (fails if it exits first, or has
    not said it after a minute: then it is killed, never left behind)."""
    assert process.stderr is not None
    seen = ""
    for _ in range(12):
        if text in seen:
            return seen
        readable, _, _ = select.select([process.stderr], [], [], 5.0)
        if readable:
            line = process.stderr.readline()
            if not line:
                pytest.fail(f"minimake exited before saying {text!r}:\n{seen}")
            seen += line
        elif process.poll() is not None:
            pytest.fail(f"minimake exited {process.returncode} first:\n{seen}")
    process.kill()
    pytest.fail(f"minimake did not say {text!r} within a minute:\n{seen}")


def test_a_thread_that_cannot_be_stopped_is_waited_for_and_a_further_signal_leaves_it(
    tmp_path: Path,
) -> None:
    """Ctrl-C cannot stop a Python recipe's thread: minimake says it waits for it, and a
    second Ctrl-C exits at once, leaving the task marked as started, never as ended, so the
    next run deletes what it wrote and runs it again."""
    write_tasks(tmp_path, THREADED)
    os.mkfifo(tmp_path / "ready.fifo")
    process = start("--executor", "thread", cwd=tmp_path)
    _wait_ready(tmp_path / "ready.fifo", {"started"}, process)
    process.send_signal(signal.SIGINT)
    said = _read_until(process, "cannot be stopped")
    assert "minimake: *** Waiting for 't.txt', which cannot be stopped" in said
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, said + err
    assert "Traceback" not in said + err
    records = _journal(tmp_path)
    assert ["f", "t.txt"] not in records
    assert records[-1][:2] == ["s", "t.txt"]
    (tmp_path / "release").touch()
    rerun = cli("--executor", "thread", cwd=tmp_path)
    assert rerun.returncode == 0, rerun.stderr
    assert "Deleting file 't.txt'" in rerun.stderr
    assert (tmp_path / "t.txt").read_text() == "part1 part2"


def test_a_thread_that_ends_while_waited_for_is_cleaned_up_as_any_interrupted_recipe(
    tmp_path: Path,
) -> None:
    write_tasks(tmp_path, THREADED)
    os.mkfifo(tmp_path / "ready.fifo")
    process = start("--executor", "thread", cwd=tmp_path)
    _wait_ready(tmp_path / "ready.fifo", {"started"}, process)
    process.send_signal(signal.SIGTERM)
    said = _read_until(process, "cannot be stopped")
    (tmp_path / "release").touch()
    _, err = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM, said + err
    assert "minimake: *** Deleting file 't.txt'" in err
    assert not (tmp_path / "t.txt").exists()
    assert ["f", "t.txt"] in _journal(tmp_path)


# Sends Ctrl-C to its own process when the module named by SIGNAL_AT is first imported: a
# deterministic moment of minimake's start-up.
HOOK = """\
import os, signal, sys

class _SignalAt:
    def find_spec(self, name, path=None, target=None):
        if name == os.environ.get("SIGNAL_AT"):
            sys.meta_path.remove(self)
            os.kill(os.getpid(), signal.SIGINT)
        return None

sys.meta_path.insert(0, _SignalAt())
"""


@pytest.mark.parametrize(
    "module",
    [
        "minimake.task",  # the package's own import, before any of minimake's code runs
        "attr",
        "minimake.cli",  # __main__ imports it, before main() handles signals
        "minimake.view.progress",
        "minimake.scheduler",
        "minimake.engine",
        "minimake.execution.spawn",
    ],
)
def test_ctrl_c_at_any_moment_of_start_up_exits_130_without_a_traceback(
    tmp_path: Path, module: str
) -> None:
    write_tasks(tmp_path, 'from minimake import task\ntask("a", recipe="touch a")\n')
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(HOOK)
    run = cli(cwd=tmp_path, env={"SIGNAL_AT": module, "PYTHONPATH": str(hook)})
    # Before main() nothing needs cleaning up: minimake dies of the signal, as make does,
    # which a shell reports as 130 too.
    assert run.returncode in (130, -signal.SIGINT), run.stderr
    assert "Traceback" not in run.stderr
    assert "Exception ignored" not in run.stderr


def test_ctrl_c_while_tasks_py_imports_exits_130_without_a_traceback(tmp_path: Path) -> None:
    write_tasks(tmp_path, "import os, signal\nos.kill(os.getpid(), signal.SIGINT)\n")
    run = cli(cwd=tmp_path)
    assert run.returncode == 130, run.stderr
    assert "Traceback" not in run.stderr
