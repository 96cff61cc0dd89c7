"""End to end, through the real CLI: retries of a failed recipe (``retries=``, ``--retries``)
and a gather that runs over what succeeded (``allow_failed_deps=True``).

Nothing sleeps: each recipe records what it was told in a file, and the order of events is
read from those files.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

import minimake
from tests.conftest import cli, start, write_tasks
from tests.test_processes import _wait_ready

FLAKY = """
import os
from minimake import task, attempt

# Fails on its first two attempts, and says which attempt it was each time.
task("shell.txt", retries=2, recipe=(
    'echo "shell attempt $MINIMAKE_ATTEMPT" >> attempts.log; '
    'echo "output of attempt $MINIMAKE_ATTEMPT"; '
    'test "$MINIMAKE_ATTEMPT" -ge 3 && echo done > shell.txt'
))

def flaky():
    with open("attempts.log", "a") as log:
        log.write(f"python attempt {os.environ['MINIMAKE_ATTEMPT']} {attempt()}\\n")
    if attempt() < 3:
        raise RuntimeError(f"flake {attempt()}")
    open("python.txt", "w").write("done\\n")

task("python.txt", recipe=flaky, retries=2)
"""


def attempts_seen(folder: Path) -> list[str]:
    return (folder / "attempts.log").read_text().splitlines()


def test_a_shell_recipe_that_fails_twice_succeeds_on_its_third_attempt(tmp_path: Path) -> None:
    write_tasks(tmp_path, FLAKY)
    done = cli("shell.txt", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert attempts_seen(tmp_path) == [f"shell attempt {n}" for n in (1, 2, 3)]
    assert (tmp_path / "shell.txt").read_text() == "done\n"
    said = [line for line in done.stderr.splitlines() if line.startswith("minimake:")]
    assert said == [
        "minimake: [tasks.py:6: shell.txt] Error 1 (attempt 1 of 3; trying again)",
        "minimake: [tasks.py:6: shell.txt] Error 1 (attempt 2 of 3; trying again)",
    ]
    # make's echo of the recipe before each attempt, each attempt's output after it
    assert done.stdout.count('echo "shell attempt') == 3
    assert [line for line in done.stdout.splitlines() if line.startswith("output of")] == [
        "output of attempt 1",
        "output of attempt 2",
        "output of attempt 3",
    ]
    assert "(1 task needed retries)" in done.stderr


def test_a_python_recipe_sees_its_attempt_in_the_environment_and_from_minimake(
    tmp_path: Path,
) -> None:
    write_tasks(tmp_path, FLAKY)
    done = cli("python.txt", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert attempts_seen(tmp_path) == [f"python attempt {n} {n}" for n in (1, 2, 3)]
    assert (
        "minimake: [tasks.py:19: python.txt] RuntimeError: flake 1 (attempt 1 of 3; trying again)"
        in done.stderr
    )


ALWAYS_FAILS = """
from minimake import task, phony

task("bad.txt", retries=2, recipe=[
    'echo "attempt $MINIMAKE_ATTEMPT" >> attempts.log',
    'echo "half written" > bad.txt',
    'echo "output of attempt $MINIMAKE_ATTEMPT"',
    'exit 3',
])
task("after.txt", deps=["bad.txt"], recipe="cp bad.txt after.txt")
task("other.txt", recipe="echo other > other.txt")
phony("all", deps=["after.txt", "other.txt"], default=True)
"""


def test_a_recipe_that_always_fails_fails_after_three_attempts(tmp_path: Path) -> None:
    write_tasks(tmp_path, ALWAYS_FAILS)
    done = cli("-k", cwd=tmp_path)
    assert done.returncode == 2
    assert attempts_seen(tmp_path) == ["attempt 1", "attempt 2", "attempt 3"]
    said = [line for line in done.stderr.splitlines() if line.startswith("minimake:")]
    assert said == [
        "minimake: [tasks.py:4: bad.txt] Error 3 (attempt 1 of 3; trying again)",
        "minimake: *** Deleting file 'bad.txt'",
        "minimake: [tasks.py:4: bad.txt] Error 3 (attempt 2 of 3; trying again)",
        "minimake: *** Deleting file 'bad.txt'",
        "minimake: *** [tasks.py:4: bad.txt] Error 3 (after 3 attempts)",
        "minimake: *** Deleting file 'bad.txt'",
        "minimake: Target 'all' not remade because of errors.",
    ]
    assert not (tmp_path / "bad.txt").exists()
    assert not (tmp_path / "after.txt").exists()
    assert (tmp_path / "other.txt").exists()
    assert "  ✗ bad.txt (tasks.py:4): Error 3 (after 3 attempts)" in done.stderr
    assert "    blocked: after.txt, all" in done.stderr
    assert "(1 task needed retries)" in done.stderr


def test_the_log_keeps_the_output_of_every_attempt(tmp_path: Path) -> None:
    write_tasks(tmp_path, ALWAYS_FAILS)
    cli("bad.txt", cwd=tmp_path)
    log = (tmp_path / ".minimake/logs/bad.txt.log").read_text().splitlines()
    said = [line.partition(" after ")[0] for line in log if line.startswith(("# att", "output"))]
    assert said == [
        "# attempt 1 of 3 ended: Error 3",
        "output of attempt 1",
        "# attempt 2 of 3 ended: Error 3",
        "output of attempt 2",
        "# attempt 3 of 3 ended: Error 3",
        "output of attempt 3",
    ]
    assert log[0] == "# task: bad.txt (tasks.py:4)"


def test_a_retried_success_keeps_its_log_and_a_first_time_success_removes_it(
    tmp_path: Path,
) -> None:
    write_tasks(tmp_path, FLAKY)
    cli("shell.txt", cwd=tmp_path)
    log = (tmp_path / ".minimake/logs/shell.txt.log").read_text()
    assert "# attempt 3 of 3 ended: succeeded after" in log
    assert "output of attempt 1\n" in log
    assert "output of attempt 3\n" in log
    (tmp_path / "shell.txt").unlink()
    write_tasks(tmp_path, FLAKY.replace("-ge 3", "-ge 1"))  # the next run succeeds at once
    assert cli("shell.txt", cwd=tmp_path).returncode == 0
    assert not (tmp_path / ".minimake/logs/shell.txt.log").exists()


def test_json_gives_each_task_its_attempts(tmp_path: Path) -> None:
    write_tasks(tmp_path, ALWAYS_FAILS)
    done = cli("-k", "--json", cwd=tmp_path)
    document = json.loads(done.stdout)
    attempts = {task["name"]: task["attempts"] for task in document["tasks"]}
    assert attempts == {"bad.txt": 3, "after.txt": 0, "other.txt": 1, "all": 0}
    assert document["retried"] == 1


def test_a_dry_run_is_the_same_with_retries(tmp_path: Path) -> None:
    """-n runs nothing, so nothing fails and nothing is retried: the same lines as without."""
    write_tasks(tmp_path, ALWAYS_FAILS)
    with_retries = cli("-n", cwd=tmp_path)
    write_tasks(tmp_path, ALWAYS_FAILS.replace("retries=2, ", ""))
    without = cli("-n", "--retries", "0", cwd=tmp_path)
    assert with_retries.returncode == without.returncode == 0
    assert with_retries.stdout == without.stdout
    assert "attempt" not in with_retries.stderr
    assert not (tmp_path / "attempts.log").exists()


COUNTED = """
from minimake import task

# Each fails until its attempt reaches 2.
for name, own in (("default.txt", None), ("never.txt", 0)):
    task(name, retries=own, recipe=(
        f'echo "{name} $MINIMAKE_ATTEMPT" >> attempts.log; '
        f'test "$MINIMAKE_ATTEMPT" -ge 2 && touch {name}'
    ))
"""


def test_the_retries_option_is_for_tasks_that_set_none(tmp_path: Path) -> None:
    write_tasks(tmp_path, COUNTED)
    done = cli("-k", "--retries", "1", "default.txt", "never.txt", cwd=tmp_path)
    assert done.returncode == 2
    assert attempts_seen(tmp_path) == ["default.txt 1", "default.txt 2", "never.txt 1"]


def test_build_takes_retries(tmp_path: Path) -> None:
    write_tasks(tmp_path, COUNTED)
    result = minimake.build(tmp_path / "tasks.py", ["default.txt"], retries=1)
    assert result.ok
    assert result.tasks["default.txt"].attempts == 2


@pytest.mark.parametrize(
    ("source", "args", "stderr"),
    [
        (COUNTED.replace('("never.txt", 0)', '("never.txt", -1)'), (), "'retries' must be"),
        (COUNTED, ("--retries", "-1"), "'retries' must be a whole number, 0 or more (got -1)"),
    ],
)
def test_a_negative_retry_count_is_an_error(
    tmp_path: Path, source: str, args: tuple[str, ...], stderr: str
) -> None:
    write_tasks(tmp_path, source)
    done = cli(*args, "default.txt", cwd=tmp_path)
    assert done.returncode == 2
    assert stderr in done.stderr


KILLED = """
from minimake import task

# Its second attempt half-writes the target, then kills minimake itself (kill -9).
task("out.txt", retries=1, recipe=[
    'echo "attempt $MINIMAKE_ATTEMPT" >> attempts.log',
    'echo half > out.txt',
    'test "$MINIMAKE_ATTEMPT" -ge 2 && kill -9 $PPID',
    'exit 1',
])
"""


def test_kill_9_during_a_retry_leaves_the_target_stale_for_the_next_run(tmp_path: Path) -> None:
    write_tasks(tmp_path, KILLED)
    done = cli("out.txt", cwd=tmp_path)
    assert done.returncode == -signal.SIGKILL
    assert attempts_seen(tmp_path) == ["attempt 1", "attempt 2"]
    assert (tmp_path / "out.txt").read_text() == "half\n"
    dry = cli("-n", "-v", "out.txt", cwd=tmp_path)
    assert "was being written when an earlier run stopped" in dry.stderr
    again = cli("out.txt", cwd=tmp_path)
    assert "minimake: *** Deleting file 'out.txt'" in again.stderr  # the journal's clean-up
    assert attempts_seen(tmp_path)[2:4] == ["attempt 1", "attempt 2"]


INTERRUPTED = """
from minimake import task

# The first attempt fails; the second half-writes its target and waits to be interrupted.
task("out.txt", retries=5, recipe=[
    'echo "attempt $MINIMAKE_ATTEMPT" >> attempts.log',
    'echo half > out.txt',
    'test "$MINIMAKE_ATTEMPT" -ge 2',
    'echo "attempt $MINIMAKE_ATTEMPT" > ready.fifo; sleep 1000',
])
"""


def test_ctrl_c_during_a_retry_stops_the_build_as_ever(tmp_path: Path) -> None:
    write_tasks(tmp_path, INTERRUPTED)
    os.mkfifo(tmp_path / "ready.fifo")
    process = start("out.txt", cwd=tmp_path)
    _wait_ready(tmp_path / "ready.fifo", {"attempt", "2"}, process)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    assert attempts_seen(tmp_path) == ["attempt 1", "attempt 2"]  # no third
    assert "minimake: *** [tasks.py:5: out.txt] Interrupt" in stderr
    assert stderr.count("minimake: *** Deleting file 'out.txt'") == 2
    assert not (tmp_path / "out.txt").exists()
    assert "Interrupted: 0 ran, 0 up to date, 0 failed, 1 interrupted" in stderr


# --- A gather over what succeeded

GATHER = """
from minimake import task, phony, failed_deps

TRIALS = [f"trial{i}.txt" for i in range(5)]
for i, trial in enumerate(TRIALS):
    task(trial, recipe=f"test {i} -ne 3 && echo {i} > {trial}")

def table():
    with open("python-table.txt", "w") as out:
        out.write("failed: " + " ".join(failed_deps()) + "\\n")

task("shell-table.txt", deps=TRIALS, allow_failed_deps=True,
     recipe='cat "$MINIMAKE_FAILED_DEPS" > shell-table.txt')
task("python-table.txt", deps=TRIALS, allow_failed_deps=True, recipe=table)
task("report.txt", deps=["shell-table.txt"], recipe="cp shell-table.txt report.txt")
phony("all", deps=["report.txt", "python-table.txt"], default=True)
"""


def test_under_keep_going_a_gather_runs_and_is_told_which_trial_failed(tmp_path: Path) -> None:
    write_tasks(tmp_path, GATHER)
    done = cli("-k", cwd=tmp_path)
    assert done.returncode == 2
    assert (tmp_path / "shell-table.txt").read_text() == "trial3.txt\n"
    assert (tmp_path / "python-table.txt").read_text() == "failed: trial3.txt\n"
    assert (tmp_path / "report.txt").read_text() == "trial3.txt\n"  # what needs it runs
    assert "minimake: *** [tasks.py:6: trial3.txt] Error 1" in done.stderr
    assert "Summary: 7 ran, 0 up to date, 1 failed, 0 skipped" in done.stderr


def test_without_keep_going_the_build_stops_before_the_gather(tmp_path: Path) -> None:
    write_tasks(tmp_path, GATHER)
    done = cli(cwd=tmp_path)
    assert done.returncode == 2
    assert not (tmp_path / "shell-table.txt").exists()
    assert not (tmp_path / "python-table.txt").exists()
    assert "Not started, the build stopped: trial4.txt, shell-table.txt" in done.stderr


def test_after_the_fix_the_failed_trial_and_the_gather_run_again(tmp_path: Path) -> None:
    """make's rule does it: the failed trial's target was deleted, so it runs, and the gather
    after it; the trials that succeeded stay up to date."""
    write_tasks(tmp_path, GATHER)
    cli("-k", cwd=tmp_path)
    write_tasks(tmp_path, GATHER.replace("test {i} -ne 3 && ", ""))
    dry = cli("-n", cwd=tmp_path)
    assert [line.split()[-1] for line in dry.stdout.splitlines()] == [
        "trial3.txt",
        "shell-table.txt",
        "report.txt",  # make's order: all's first dep, and all it needs, first
        "table()",
    ]
    assert cli("-q", cwd=tmp_path).returncode == 1
    done = cli(cwd=tmp_path)
    assert done.returncode == 0
    assert (tmp_path / "shell-table.txt").read_text() == ""
    assert (tmp_path / "python-table.txt").read_text() == "failed: \n"
    assert "minimake: Nothing to be done for 'all'." in cli(cwd=tmp_path).stdout


def test_on_the_thread_executor_python_recipes_are_told_through_their_thread(
    tmp_path: Path,
) -> None:
    """The environment is the whole process's there: attempt() and failed_deps() read what
    minimake told the recipe's own thread."""
    seen: list[tuple[str, int]] = []

    def flaky() -> None:
        seen.append(("flaky", minimake.attempt()))
        if minimake.attempt() < 2:
            raise RuntimeError("flake")
        (tmp_path / "flaky").write_text("ok")

    def broken() -> None:
        raise RuntimeError("always")

    def gather() -> None:
        (tmp_path / "gather").write_text(" ".join(minimake.failed_deps()))

    tasks = [
        minimake.Task.create("flaky", recipe=flaky, retries=1),
        minimake.Task.create("broken", recipe=broken),
        minimake.Task.create(
            "gather", deps=["flaky", "broken"], recipe=gather, allow_failed_deps=True
        ),
    ]
    result = minimake.build(tasks, ["gather"], root=tmp_path, executor="thread", keep_going=True)
    assert seen == [("flaky", 1), ("flaky", 2)]
    assert (tmp_path / "gather").read_text() == "broken"
    assert result.tasks["gather"].status is minimake.Status.RAN
    assert not result.ok


def test_failed_deps_is_empty_outside_a_build(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MINIMAKE_FAILED_DEPS", raising=False)
    monkeypatch.delenv("MINIMAKE_ATTEMPT", raising=False)
    assert minimake.failed_deps() == []
    assert minimake.attempt() == 1
    assert os.environ.get("MINIMAKE_FAILED_DEPS") is None
