"""Real processes: Ctrl-C and SIGTERM, dying workers, start methods, and the pool's -j bound."""

from __future__ import annotations

import os
import select
import signal
import subprocess
from pathlib import Path

import pytest

from tests.conftest import alive, cli, start, write_tasks

INTERRUPTIBLE = """\
import subprocess
from minimake import task, phony

task("shell_part", recipe=(
    "echo partial > shell_part; sleep 1000 & echo $! > shell_gc.pid; "
    "echo shell > ready.fifo; sleep 1001; echo done > shell_part"
))

def python_recipe():
    with open("py_part", "w") as f:
        f.write("partial")
    child = subprocess.Popen(["sleep", "1002"])
    with open("py_gc.pid", "w") as f:
        f.write(str(child.pid))
    with open("ready.fifo", "w") as f:
        f.write("python\\n")
    child.wait()

task("py_part", recipe=python_recipe)
phony("all", deps=["shell_part", "py_part"], default=True)
"""


def _wait_ready(fifo: Path, expected: set[str], process: subprocess.Popen[str]) -> None:
    """Block until every recipe has said it is running (a rendezvous, not a sleep).

    The FIFO is opened read-write, so opening never blocks and a closed writer is no EOF;
    should minimake exit first, its output is shown instead of waiting forever.
    """
    seen: set[str] = set()
    descriptor = os.open(fifo, os.O_RDWR)
    try:
        while not expected <= seen:
            readable, _, _ = select.select([descriptor], [], [], 5.0)
            if readable:
                seen.update(os.read(descriptor, 4096).decode().split())
            elif process.poll() is not None:
                out, err = process.communicate()
                pytest.fail(f"minimake exited {process.returncode} first:\n{out}\n{err}")
    finally:
        os.close(descriptor)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_stops_every_recipe_and_deletes_partial_targets(
    tmp_path: Path, signum: int
) -> None:
    write_tasks(tmp_path, INTERRUPTIBLE)
    os.mkfifo(tmp_path / "ready.fifo")
    process = start("-j2", cwd=tmp_path)
    _wait_ready(tmp_path / "ready.fifo", {"shell", "python"}, process)
    grandchildren = [int((tmp_path / f"{n}_gc.pid").read_text()) for n in ("shell", "py")]
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 128 + signum  # make's: 130 for Ctrl-C, 143 for SIGTERM
    assert "minimake: *** Deleting file 'shell_part'" in stderr
    assert "minimake: *** Deleting file 'py_part'" in stderr
    assert "minimake: *** [tasks.py:4: shell_part] Interrupt" in stderr
    assert not (tmp_path / "shell_part").exists()
    assert not (tmp_path / "py_part").exists()
    assert [pid for pid in grandchildren if alive(pid)] == []


def test_an_interrupt_under_ignore_errors_starts_no_further_line(tmp_path: Path) -> None:
    """-i goes on after a failing line, but not after one that Ctrl-C stopped: make itself
    dies of the signal. The next lines would run after the interrupt, and the last of them
    outlive minimake."""
    write_tasks(
        tmp_path,
        """
        from minimake import task
        task("lines", recipe=[
            "echo first > ready.fifo; sleep 1000",
            "touch second-ran",
            "touch third-ran; sleep 1000",
        ])
        """,
    )
    os.mkfifo(tmp_path / "ready.fifo")
    process = start("-i", cwd=tmp_path)
    _wait_ready(tmp_path / "ready.fifo", {"first"}, process)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "minimake: *** [tasks.py:3: lines] Interrupt" in stderr
    assert sorted(path.name for path in tmp_path.glob("*-ran")) == []


CRASHING = """\
import os, signal
from minimake import task, phony

def die_by_signal():
    os.kill(os.getpid(), signal.SIGKILL)

def die_by_exit():
    os._exit(7)

def write(path):
    with open(path, "w") as f:
        f.write(path)

task("sigkilled", recipe=die_by_signal)
task("exited", recipe=die_by_exit)
for i in range(4):
    task(f"ok{i}", recipe=write, args=(f"ok{i}",))
task("after", deps=["sigkilled"], recipe=write, args=("after",))
phony("all", deps=["after", "exited"] + [f"ok{i}" for i in range(4)], default=True)
"""


@pytest.mark.parametrize("jobs", ["-j1", "-j2"])
def test_dead_worker_fails_its_task_and_the_build_goes_on(tmp_path: Path, jobs: str) -> None:
    write_tasks(tmp_path, CRASHING)
    run = cli("-k", jobs, cwd=tmp_path, timeout=120)
    assert run.returncode == 2
    assert "[tasks.py:14: sigkilled] Worker process died (killed by signal 9" in run.stderr
    assert "[tasks.py:15: exited] Worker process died (exit code 7)" in run.stderr
    assert sorted(p.name for p in tmp_path.glob("ok*")) == ["ok0", "ok1", "ok2", "ok3"]
    assert not (tmp_path / "after").exists()


CLOSURES = """\
import functools
from minimake import task, phony

def write(path, text):
    with open(path, "w") as f:
        f.write(text)

def make_writer(path):
    def recipe():
        write(path, "closure")
    return recipe

for i in range(3):
    task(f"closure{i}", recipe=make_writer(f"closure{i}"))
    task(f"partial{i}", recipe=functools.partial(write, f"partial{i}", "partial"))

@task("decorated")
def decorated():
    write("decorated", "decorated")

phony("all", deps=[f"{kind}{i}" for kind in ("closure", "partial") for i in range(3)]
      + ["decorated"], default=True)
"""


@pytest.mark.parametrize("method", ["fork", "forkserver", "spawn"])
def test_python_recipes_reach_workers_under_every_start_method(tmp_path: Path, method: str):
    write_tasks(tmp_path, CLOSURES)
    run = cli("-j2", cwd=tmp_path, env={"MINIMAKE_START_METHOD": method})
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "closure2").read_text() == "closure"
    assert (tmp_path / "partial1").read_text() == "partial"
    assert (tmp_path / "decorated").read_text() == "decorated"


def test_two_jobs_run_two_shell_recipes_at_once(tmp_path: Path) -> None:
    """A FIFO is a barrier: its writer and its reader only finish if they run together."""
    os.mkfifo(tmp_path / "meet")
    write_tasks(
        tmp_path,
        """\
        from minimake import task, phony
        task("writer", recipe="echo hello > meet && touch writer")
        task("reader", recipe="cat meet > reader")
        phony("all", deps=["writer", "reader"], default=True)
        """,
    )
    run = cli("-j2", cwd=tmp_path, timeout=60)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "reader").read_text() == "hello\n"


def test_one_job_never_runs_two_recipes_at_once(tmp_path: Path) -> None:
    recipe = (
        "ls running.* >/dev/null 2>&1 && echo $TARGET >> overlaps; "
        "touch running.$TARGET; ls running.* | wc -l >> counts; rm running.$TARGET; touch $TARGET"
    )
    write_tasks(
        tmp_path,
        f"""\
        from minimake import task, phony
        for i in range(8):
            task(f"t{{i}}", recipe={recipe!r})
        phony("all", deps=[f"t{{i}}" for i in range(8)], default=True)
        """,
    )
    assert cli("-j1", cwd=tmp_path).returncode == 0
    assert not (tmp_path / "overlaps").exists()
    assert (tmp_path / "counts").read_text().split() == ["1"] * 8
