"""The journal end to end: a killed run, two runs at once, and reruns on changed recipes."""

from __future__ import annotations

import fcntl
import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from minimake.journal import HEADER
from tests.conftest import alive, cli, environment, proc_stats, write_tasks
from tests.conftest import start as run_in_background

# part.txt is written in two steps; with `block` present its recipe stops between them (the
# run is killed there). The recipe holds an flock on running.lock for as long as it, or a
# child of it, lives: a second copy of it started beside a live first one says so and fails.
# final.txt copies part.txt and records each copy it made.
KILLABLE = """\
from minimake import task, phony

task("part.txt", recipe='''
exec 9>running.lock
flock -n 9 || { echo CONCURRENT >> concurrent.txt; exit 1; }
echo part1 > part.txt
if [ -e block ]; then echo started > ready.fifo; sleep 1000; fi
echo part2 >> part.txt
''')
task("final.txt", deps=["part.txt"], recipe="cp part.txt final.txt && cat part.txt >> copies.txt")
phony("all", deps=["final.txt"], default=True)
"""


def start(folder: Path, *args: str) -> subprocess.Popen[str]:
    # In a session of its own, so that a test can kill the whole tree, and only it.
    return run_in_background(
        *args, cwd=folder, env={"MINIMAKE_PROGRESS": "plain"}, new_session=True
    )


def wait_started(folder: Path, process: subprocess.Popen[str]) -> None:
    """Block until part.txt's recipe has written part1 (a rendezvous on its FIFO)."""
    descriptor = os.open(folder / "ready.fifo", os.O_RDWR)  # never blocks, never EOF
    try:
        while True:
            readable, _, _ = select.select([descriptor], [], [], 5.0)
            if readable and b"started" in os.read(descriptor, 100):
                return
            if process.poll() is not None:
                out, err = process.communicate()
                pytest.fail(f"minimake exited {process.returncode} first:\n{out}\n{err}")
    finally:
        os.close(descriptor)


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (from /proc's parent links)."""
    children: dict[int, list[int]] = {}
    for child, fields in proc_stats().items():
        children.setdefault(int(fields[1]), []).append(child)
    found, stack = [], [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def kill_tree(pid: int) -> None:
    """kill -9 of a whole process tree, as an OOM killer or a batch system does: freeze it
    first, so that nothing below reacts to its parent's death, then kill every process."""
    frozen: set[int] = set()
    while True:
        tree = {pid, *descendants(pid)} - frozen
        if not tree:
            break
        for member in tree:
            os.kill(member, signal.SIGSTOP)
        frozen |= tree
    for member in frozen:
        os.kill(member, signal.SIGKILL)
    while any(alive(member) for member in frozen):  # death is not instant
        time.sleep(0.01)


def killed_mid_recipe(folder: Path, whole_tree: bool) -> int:
    """Run the build, kill it inside part.txt's recipe; returns the killed run's pid."""
    write_tasks(folder, KILLABLE)
    os.mkfifo(folder / "ready.fifo")
    (folder / "block").touch()
    process = start(folder, "-j2")
    wait_started(folder, process)
    if whole_tree:
        kill_tree(process.pid)
    else:
        process.kill()
    process.wait()
    for pipe in (process.stdout, process.stderr):  # a live orphan may hold them open
        assert pipe is not None
        pipe.close()
    assert (folder / "part.txt").read_text() == "part1\n"  # the half-written target
    (folder / "block").unlink()
    return process.pid


def recipe_alive(folder: Path) -> bool:
    """Whether some copy of part.txt's recipe (or a child of it) still holds its flock."""
    with open(folder / "running.lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        return False


@pytest.mark.parametrize("whole_tree", [True, False], ids=["whole-tree", "minimake-alone"])
def test_a_killed_run_is_finished_by_the_next_one(tmp_path: Path, whole_tree: bool) -> None:
    killed = killed_mid_recipe(tmp_path, whole_tree)
    # Killing minimake alone leaves its recipe running; killing the tree does not.
    assert recipe_alive(tmp_path) is not whole_tree

    said = f"was being written when an earlier run stopped (pid {killed})"
    dry = cli("-n", "--progress", "plain", cwd=tmp_path)
    assert f"would run part.txt: {said}" in dry.stderr
    document = json.loads(cli("-n", "--json", cwd=tmp_path).stdout)
    reasons = {task["name"]: task["reason"] for task in document["tasks"]}
    assert reasons["part.txt"] == said
    explained = cli("--explain", "part.txt", cwd=tmp_path).stdout
    assert f"'part.txt' is stale: {said}" in explained

    again = cli("-j2", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "waiting for the build" not in again.stderr  # the dead run's lock is free
    assert "minimake: *** Deleting file 'part.txt'" in again.stderr
    assert not (tmp_path / "concurrent.txt").exists()  # never beside its earlier run
    assert not recipe_alive(tmp_path)
    assert (tmp_path / "part.txt").read_text() == "part1\npart2\n"
    assert (tmp_path / "copies.txt").read_text() == "part1\npart2\n"  # one copy, whole
    assert "Nothing to be done for 'all'" in cli(cwd=tmp_path).stdout


def test_the_mark_outlives_a_run_that_builds_something_else(tmp_path: Path) -> None:
    """A killed task stays stale, whatever is built in between, until it finishes."""
    killed_mid_recipe(tmp_path, whole_tree=True)
    (tmp_path / "other.txt").write_text("")
    write_tasks(tmp_path, KILLABLE + 'task("other", recipe="true", deps=["other.txt"])\n')
    assert cli("other", cwd=tmp_path).returncode == 0
    assert not (tmp_path / "part.txt").exists()  # deleted at the start of that run
    dry = cli("-n", "--progress", "plain", cwd=tmp_path)
    assert "would run part.txt: was being written when an earlier run stopped" in dry.stderr


# minimake, on a journal whose disk stops answering once a recipe's start is recorded (a slow
# or network disk, at its slowest): whatever the run writes after that never lands.
STALLED = """
import sys, threading
from minimake import journal
from minimake.cli import main

append = journal.Journal._append

def stalled(self, record):
    if getattr(self, "stalled", False):
        threading.Event().wait()
    append(self, record)
    if ("\\n" + record).find("\\ns\\t") >= 0:
        self.stalled = True

journal.Journal._append = stalled
sys.exit(main())
"""


def test_a_recipe_started_before_its_group_was_recorded_is_still_stopped(
    tmp_path: Path,
) -> None:
    """kill -9 between a recipe's start and anything written after it: the next run finds
    the recipe all the same, stops it, and reruns it alone."""
    write_tasks(tmp_path, KILLABLE)
    os.mkfifo(tmp_path / "ready.fifo")
    (tmp_path / "block").touch()
    process = subprocess.Popen(
        [sys.executable, "-c", STALLED, "-j2"],
        cwd=tmp_path,
        env=environment({"MINIMAKE_PROGRESS": "plain"}),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    wait_started(tmp_path, process)
    process.kill()  # minimake alone: its recipe goes on
    process.communicate()
    assert recipe_alive(tmp_path)
    (tmp_path / "block").unlink()
    again = cli("-j2", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert not (tmp_path / "concurrent.txt").exists()  # never beside its earlier run
    assert not recipe_alive(tmp_path)
    assert (tmp_path / "part.txt").read_text() == "part1\npart2\n"


STRANGER_TASKS = """\
from minimake import task
task("out.txt", recipe="touch out.txt")
"""


@pytest.mark.parametrize("loads", [True, False], ids=["tasks-load", "tasks-fail"])
def test_a_journal_naming_a_stranger_s_group_leaves_it_alive(tmp_path: Path, loads: bool) -> None:
    write_tasks(tmp_path, STRANGER_TASKS if loads else "raise SystemExit('broken')\n")
    stranger = subprocess.Popen(["sleep", "1000"], start_new_session=True)
    try:
        started = proc_stats()[stranger.pid][19]  # its start time: the record is exact
        (tmp_path / ".minimake").mkdir()
        (tmp_path / ".minimake" / "journal").write_text(
            HEADER + f"s\tout.txt\t1\t[]\ng\tout.txt\t{stranger.pid}\t{started}\n"
        )
        done = cli(cwd=tmp_path)
        assert (done.returncode == 0) is loads, done.stderr
        assert stranger.poll() is None
    finally:
        stranger.kill()
        stranger.wait()


def test_a_journal_naming_group_0_leaves_minimake_s_own_group_alone(tmp_path: Path) -> None:
    write_tasks(tmp_path, STRANGER_TASKS)
    (tmp_path / ".minimake").mkdir()
    (tmp_path / ".minimake" / "journal").write_text(HEADER + "g\tx\t0\t0\ng\tx\t1\t0\n")
    script = f"'{sys.executable}' -m minimake; echo survived $?"
    done = subprocess.run(
        ["/bin/sh", "-c", script],
        cwd=tmp_path,
        env=environment(),
        capture_output=True,
        text=True,
        start_new_session=True,  # the script's group is its own, not the test's
        timeout=120,
        check=False,
    )
    assert "survived 0" in done.stdout, done.stderr


FOLDER_TARGET = """\
from minimake import task
task("outdir", recipe=(
    "mkdir -p outdir && if [ -e block ]; then echo started > ready.fifo; sleep 1000; fi"
))
"""


def test_a_killed_folder_target_is_left_and_rebuilt(tmp_path: Path) -> None:
    """make never deletes a folder; nor does the clean-up after a killed run."""
    write_tasks(tmp_path, FOLDER_TARGET)
    os.mkfifo(tmp_path / "ready.fifo")
    (tmp_path / "block").touch()
    process = start(tmp_path)
    wait_started(tmp_path, process)
    kill_tree(process.pid)
    process.communicate()
    (tmp_path / "block").unlink()
    for _ in range(2):
        again = cli(cwd=tmp_path)
        assert again.returncode == 0, again.stderr
        assert "Traceback" not in again.stderr
    assert "'outdir' is up to date" in again.stdout
    assert (tmp_path / "outdir").is_dir()


def test_a_record_nested_too_deep_to_parse_is_skipped(tmp_path: Path) -> None:
    write_tasks(tmp_path, STRANGER_TASKS)
    (tmp_path / ".minimake").mkdir()
    deep = "[" * 100_000 + "]" * 100_000
    (tmp_path / ".minimake" / "journal").write_text(HEADER + f"s\tout.txt\t1\t{deep}\n")
    done = cli(cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out.txt").exists()


def test_the_folders_of_dask_builds_no_longer_running_are_removed(tmp_path: Path) -> None:
    """A Dask build killed with -9 leaves its folder: any later run removes it."""
    write_tasks(tmp_path, STRANGER_TASKS)
    ended = subprocess.Popen(["true"])
    ended.wait()
    dead = tmp_path / ".minimake" / "dask" / f"{ended.pid}-0123456789ab"
    live = tmp_path / ".minimake" / "dask" / f"{os.getpid()}-0123456789ab"
    for folder in (dead, live):
        folder.mkdir(parents=True)
        (folder / "probe").write_text("")
    assert cli(cwd=tmp_path).returncode == 0
    assert not dead.exists()
    assert (live / "probe").exists()


GATED = """\
from minimake import task, phony

task("out.txt", recipe="read line < gate.fifo; echo $line >> out.txt; echo ran >> runs.txt")
phony("all", deps=["out.txt"], default=True)
"""


def test_two_runs_at_once_take_turns(tmp_path: Path) -> None:
    write_tasks(tmp_path, GATED)
    os.mkfifo(tmp_path / "gate.fifo")
    first = start(tmp_path)
    # The first run holds the lock while its recipe waits on the gate.
    gate = os.open(tmp_path / "gate.fifo", os.O_WRONLY)  # returns once the recipe reads
    second = start(tmp_path)
    assert second.stderr is not None
    line = second.stderr.readline()
    assert line.startswith(f"minimake: waiting for the build running as pid {first.pid} (since ")
    assert line.rstrip().endswith(")")
    # -n, -q, --list, --graph and --explain take no lock: they answer while the run goes on.
    for flags in (["-n"], ["-q"], ["--list"], ["--graph"], ["--explain", "out.txt"]):
        done = cli(*flags, cwd=tmp_path, timeout=60)
        assert "waiting for the build" not in done.stderr, flags
    # The recipe running now is no sign of an earlier run that stopped.
    dry = cli("-n", "--progress", "plain", cwd=tmp_path, timeout=60)
    said = f"would run out.txt: is being built by the run in progress (pid {first.pid})"
    assert said in dry.stderr
    assert "earlier run stopped" not in dry.stderr
    os.write(gate, b"one\n")
    os.close(gate)
    assert first.wait(timeout=60) == 0
    out, err = second.communicate(timeout=60)
    assert second.returncode == 0, err
    assert "Nothing to be done for 'all'" in out  # it saw the first run's finished work
    assert (tmp_path / "runs.txt").read_text() == "ran\n"
    assert (tmp_path / "out.txt").read_text() == "one\n"


def test_ctrl_c_while_waiting_for_the_lock(tmp_path: Path) -> None:
    write_tasks(tmp_path, GATED)
    os.mkfifo(tmp_path / "gate.fifo")
    first = start(tmp_path)
    gate = os.open(tmp_path / "gate.fifo", os.O_WRONLY)
    second = start(tmp_path)
    assert second.stderr is not None
    assert "waiting for the build" in second.stderr.readline()
    second.send_signal(signal.SIGINT)
    assert second.wait(timeout=60) == 130
    os.write(gate, b"one\n")
    os.close(gate)
    assert first.wait(timeout=60) == 0


# --- Changed recipes

TRIGGERED = """\
from minimake import task, phony, var, rerun_triggers
{setting}
def fit(rate):
    with open("fit.txt", "a") as file:
        file.write(f"{{rate}}\\n")

task("fit.txt", recipe=fit, args=({rate},))
task("cmd.txt", recipe="echo {word} >> cmd.txt")
task("plain.txt", recipe="echo x >> plain.txt"{own})
phony("all", deps=["fit.txt", "cmd.txt", "plain.txt"], default=True)
"""


def triggered(folder: Path, setting: str = "", rate: str = "0.1", word: str = "a", own: str = ""):
    write_tasks(folder, TRIGGERED.format(setting=setting, rate=rate, word=word, own=own))


def reasons(folder: Path, *args: str) -> dict[str, str]:
    """What -n --json says would run, with why."""
    document = json.loads(cli("-n", "--json", *args, cwd=folder).stdout)
    return {t["name"]: t["reason"] for t in document["tasks"] if t["status"] == "would_run"}


def test_the_default_is_makes_rule(tmp_path: Path) -> None:
    triggered(tmp_path)
    assert cli(cwd=tmp_path).returncode == 0
    triggered(tmp_path, rate="0.2", word="b")
    assert reasons(tmp_path) == {"all": "phony"}


def test_changed_recipes_rerun_on_request(tmp_path: Path) -> None:
    triggered(tmp_path)
    assert cli(cwd=tmp_path).returncode == 0
    flag = ("--rerun-triggers", "mtime,recipe")
    # A comment edit, and moving code down, change nothing.
    text = (tmp_path / "tasks.py").read_text()
    (tmp_path / "tasks.py").write_text("# a comment\n\n" + text.replace("\ndef", "\n\n# x\ndef"))
    assert reasons(tmp_path, *flag) == {"all": "phony"}
    triggered(tmp_path, rate="0.2", word="b")
    assert reasons(tmp_path, *flag) == {
        "fit.txt": "args (0.1,) -> (0.2,)",
        "cmd.txt": "command line changed",
        "all": "phony",
    }
    explained = cli("--explain", "fit.txt", *flag, cwd=tmp_path).stdout
    assert "'fit.txt' is stale: args (0.1,) -> (0.2,)" in explained
    dry = cli("-n", "--progress", "plain", *flag, cwd=tmp_path)
    assert "would run cmd.txt: command line changed" in dry.stderr
    assert cli(*flag, cwd=tmp_path).returncode == 0
    assert (tmp_path / "fit.txt").read_text() == "0.1\n0.2\n"
    assert (tmp_path / "cmd.txt").read_text() == "a\nb\n"
    assert (tmp_path / "plain.txt").read_text() == "x\n"
    assert reasons(tmp_path, *flag) == {"all": "phony"}


def test_a_code_edit_reruns_the_task(tmp_path: Path) -> None:
    triggered(tmp_path, setting='rerun_triggers("mtime", "recipe")')
    assert cli(cwd=tmp_path).returncode == 0
    text = (tmp_path / "tasks.py").read_text()
    spread = 'open(  # append\n        "fit.txt",\n        "a",\n    )'
    (tmp_path / "tasks.py").write_text(text.replace('open("fit.txt", "a")', spread))
    assert reasons(tmp_path) == {"all": "phony"}  # reformatting is no change
    (tmp_path / "tasks.py").write_text(text.replace("{rate}\\n", "rate={rate}\\n"))
    assert reasons(tmp_path) == {"fit.txt": "code of fit changed", "all": "phony"}
    # The command line wins over tasks.py's setting.
    assert reasons(tmp_path, "--rerun-triggers", "mtime") == {"all": "phony"}


def test_a_tasks_own_setting_wins(tmp_path: Path) -> None:
    own = ', rerun_triggers="mtime,recipe"'
    triggered(tmp_path, own=own)
    assert cli(cwd=tmp_path).returncode == 0
    write_tasks(
        tmp_path,
        TRIGGERED.format(setting="", rate="0.5", word="b", own=own).replace("echo x", "echo y"),
    )
    assert reasons(tmp_path) == {"plain.txt": "command line changed", "all": "phony"}


def test_no_recorded_signature_is_no_reason_to_rerun(tmp_path: Path) -> None:
    triggered(tmp_path)
    assert cli("--no-journal", cwd=tmp_path).returncode == 0
    assert not (tmp_path / ".minimake" / "journal").exists()
    flag = ("--rerun-triggers", "mtime,recipe")
    assert reasons(tmp_path, *flag) == {"all": "phony"}
    # A real run adopts the recipes it finds up to date; a later edit then counts.
    assert cli(*flag, cwd=tmp_path).returncode == 0
    triggered(tmp_path, word="b")
    assert reasons(tmp_path, *flag) == {"cmd.txt": "command line changed", "all": "phony"}


def test_a_bad_trigger_is_refused(tmp_path: Path) -> None:
    triggered(tmp_path)
    done = cli("--rerun-triggers", "mtime,code", cwd=tmp_path)
    assert done.returncode == 2
    assert "unknown rerun trigger 'code'" in done.stderr
