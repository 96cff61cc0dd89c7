"""What a Makefile's port needs, beside GNU make where make has the behaviour: -s -n, a
recipe that calls minimake, per-task silence, -n's script, console tasks, intermediate files,
tasks.py's folder, var()."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import cli, environment, needs_make, touch, write_tasks

_ENV = {k: v for k, v in os.environ.items() if k not in {"MAKEFLAGS", "MFLAGS", "MAKELEVEL"}}
_ENV["LC_ALL"] = "C"


def make(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    make_path = shutil.which("make")
    assert make_path is not None
    return subprocess.run(
        [make_path, *args],
        cwd=cwd,
        env={**_ENV, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def twins(tmp_path: Path, makefile: str, tasks: str) -> tuple[Path, Path]:
    """Two folders: one with the Makefile, one with its port, each with an `in` file."""
    for name, body, file in (("make", makefile, "Makefile"), ("mini", tasks, "tasks.py")):
        (tmp_path / name).mkdir()
        if file == "Makefile":
            (tmp_path / name / file).write_text(body)
        else:
            write_tasks(tmp_path / name, body)
        touch(tmp_path / name / "in", 0)
    return tmp_path / "make", tmp_path / "mini"


@needs_make
def test_silent_dry_run_prints_the_commands_as_make(tmp_path: Path) -> None:
    made, mini = twins(
        tmp_path,
        "out: in\n\tcp in out\n",
        """
        from minimake import task
        task("out", deps="in", recipe="cp in out")
        """,
    )
    theirs, ours = make("-s", "-n", cwd=made), cli("-s", "-n", cwd=mini)
    assert theirs.stdout == "cp in out\n"
    assert (ours.returncode, ours.stdout) == (0, theirs.stdout)
    # -s still silences a real run, and -s -n -t prints no touches (make's).
    assert make("-s", "-n", "-t", cwd=made).stdout == cli("-s", "-n", "-t", cwd=mini).stdout == ""
    assert cli("-s", cwd=mini).stdout == ""


@needs_make
def test_a_silent_task_is_not_echoed_but_shown_by_dry_run(tmp_path: Path) -> None:
    made, mini = twins(
        tmp_path,
        "out: in\n\t@cp in out\n\t@echo done\nall: out\n\techo all\n",
        """
        from minimake import phony, task
        task("out", deps="in", recipe=["cp in out", "echo done"], silent=True)
        phony("all", deps="out", recipe="echo all")
        """,
    )
    for args in (["-n", "all"], ["all"]):
        theirs, ours = make(*args, cwd=made), cli(*args, cwd=mini)
        assert ours.stdout == theirs.stdout, args
    assert theirs.stdout == "done\necho all\nall\n"


@needs_make
def test_dry_run_shows_the_automatic_variables_as_make(tmp_path: Path) -> None:
    made, mini = twins(
        tmp_path,
        "out: in b\n\tcat $^ > $@\n\techo '$$TARGET' \"$@\"\nb:\n\techo b > $@\n",
        """
        from minimake import task
        lines = ["cat $DEPS > $TARGET", "echo '$TARGET' \\"$TARGET\\""]
        task("out", deps=["in", "b"], recipe=lines)
        task("b", recipe="echo b > $TARGET")
        """,
    )
    theirs, ours = make("-n", cwd=made), cli("-n", cwd=mini)
    assert theirs.stdout == "echo b > b\ncat in b > out\necho '$TARGET' \"out\"\n"
    assert ours.stdout == theirs.stdout
    # A real run echoes the same lines, and runs the command as written.
    theirs, ours = make(cwd=made), cli(cwd=mini)
    assert ours.stdout == theirs.stdout
    assert (mini / "out").read_text() == (made / "out").read_text()


@needs_make
def test_a_phony_group_runs_once_and_its_other_names_have_nothing_to_do(tmp_path: Path) -> None:
    """make's grouped phony targets (features/grouped_targets): a goal already made through
    its group gets `Nothing to be done for 'g2'.`; with one job the recipes run in make's
    order (the goals in turn, deps depth first); -t touches nothing for a phony task."""
    made, mini = twins(
        tmp_path,
        ".PHONY: all g1 g2 g3 t\nall: t g3\nt: ; @echo t\ng1 g2 g3 &: ; @echo $@ of g1 g2 g3\n",
        """
        from minimake import phony
        phony("all", deps=["t", "g3"])
        phony("t", recipe="echo t", silent=True)
        phony(["g1", "g2", "g3"], recipe="echo $TARGET of $TARGETS", silent=True)
        """,
    )
    for args in (["all", "g2", "g1"], ["g2", "t", "g3"], ["-n", "g1", "all"], ["-t", "g1", "g2"]):
        theirs, ours = make(*args, cwd=made), cli("--progress", "off", *args, cwd=mini)
        assert ours.returncode == theirs.returncode == 0, args
        assert ours.stdout.replace("minimake:", "make:") == theirs.stdout, args
    nothing = "make: Nothing to be done for"
    assert theirs.stdout == f"{nothing} 'g1'.\n{nothing} 'g2'.\n"  # the last, -t
    ours = cli("--progress", "off", "all", "g2", "g1", cwd=mini)
    assert ours.stdout.splitlines() == [
        "t",
        "g3 of g1 g2 g3",
        "minimake: Nothing to be done for 'g2'.",
        "minimake: Nothing to be done for 'g1'.",
    ]
    assert sorted(os.listdir(mini)) == [".minimake", "in", "tasks.py"]  # no file named g1


def test_a_path_that_needs_quoting_is_shown_quoted(tmp_path: Path) -> None:
    write_tasks(tmp_path, 'from minimake import task\ntask("a b", recipe="touch $TARGET")\n')
    assert cli("-n", cwd=tmp_path).stdout == "touch 'a b'\n"


@pytest.mark.timeout(60)
def test_minimake_from_a_recipe_fails_at_once_saying_why(tmp_path: Path) -> None:
    write_tasks(
        tmp_path,
        f"""
        from minimake import phony
        phony("clean", recipe="rm -f out")
        phony("clean-all", recipe="{sys.executable} -m minimake clean")
        phony("clean-nolock", recipe="{sys.executable} -m minimake --no-journal clean")
        """,
    )
    run = cli("clean-all", cwd=tmp_path)
    assert run.returncode == 2
    pid = re.search(r"This folder's build \(pid (\d+)\) ran this minimake", run.stdout + run.stderr)
    assert pid, run.stdout + run.stderr
    assert "--no-journal" in run.stdout + run.stderr
    # The way out it names: the inner run takes no lock, as make's sub-make.
    run = cli("clean-nolock", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "rm -f out" in run.stdout


def test_tasks_file_is_imported_in_its_own_folder(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    for name in ("a", "b"):
        (project / "data" / f"{name}.fastq").write_text(name)
    write_tasks(
        project,
        """
        from glob import glob
        from minimake import task
        inputs = sorted(glob("data/*.fastq"))
        task("all.txt", deps=inputs, recipe="cat $DEPS > $TARGET")
        """,
    )
    (project / "sub").mkdir()
    run = cli("-f", "../tasks.py", cwd=project / "sub")
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[0] == "cat data/a.fastq data/b.fastq > all.txt"
    assert (project / "all.txt").read_text() == "ab"


@needs_make
def test_var_without_the_environment_as_make_and_typed(tmp_path: Path) -> None:
    made, mini = twins(
        tmp_path,
        "exp = 5\nall:\n\t@echo $(exp)\n",
        """
        from minimake import phony, var
        exp = var("exp", 5, environment=False)
        assert isinstance(exp, int)
        sizes = var("sizes", "1 2", type=list)
        phony("all", recipe=f"echo {exp} {len(sizes)}", silent=True)
        """,
    )
    stray = {"exp": "3"}
    assert make(cwd=made, env=stray).stdout == "5\n"
    assert cli(cwd=mini, env=stray).stdout == "5 2\n"
    assert make("exp=7", cwd=made, env=stray).stdout == "7\n"
    assert cli("exp=7", "sizes=a b c", cwd=mini, env=stray).stdout == "7 3\n"
    run = cli("exp=seven", cwd=mini)
    assert run.returncode == 2
    assert "tasks.py:3: ValueError: var 'exp': cannot read 'seven' as int" in run.stderr


@needs_make
def test_a_deleted_intermediate_is_not_remade_as_make(tmp_path: Path) -> None:
    made, mini = twins(
        tmp_path,
        ".SECONDARY: mid\nout: mid\n\tcp mid out\nmid: in\n\tcp in mid\n",
        """
        from minimake import task
        task("out", deps="mid", recipe="cp mid out")
        task("mid", deps="in", recipe="cp in mid", intermediate=True)
        """,
    )
    for folder, tool in ((made, make), (mini, cli)):
        assert tool(cwd=folder).stdout == "cp in mid\ncp mid out\n"
        touch(folder / "mid", 10)
        touch(folder / "out", 20)
        (folder / "mid").unlink()
    for args in (["-q"], ["-n"], []):
        theirs, ours = make(*args, cwd=made), cli(*args, "--progress", "off", cwd=mini)
        assert ours.returncode == theirs.returncode == 0, args
        assert ours.stdout.replace("minimake", "make") == theirs.stdout, args
    assert not (mini / "mid").exists()
    # Its dep newer than what needs it: remade first, then the task that needs it.
    for folder in (made, mini):
        touch(folder / "in", 30)
    assert make("-q", cwd=made).returncode == cli("-q", cwd=mini).returncode == 1
    theirs, ours = make("-n", cwd=made), cli("-n", cwd=mini)
    assert ours.stdout == theirs.stdout == "cp in mid\ncp mid out\n"
    assert cli(cwd=mini).stdout == "cp in mid\ncp mid out\n"
    assert (mini / "mid").exists()


@pytest.mark.timeout(60)
def test_a_console_task_reads_the_terminal(tmp_path: Path) -> None:
    pexpect = pytest.importorskip("pexpect")
    write_tasks(
        tmp_path,
        """
        from minimake import phony, task
        task("a", recipe="echo a > a")
        task("b", recipe="echo b > b")
        phony("ask", deps=["a", "b"], console=True,
              recipe='printf "Are you sure? [y/N] "; read answer; echo "got $answer" > answer')
        phony("all", deps=["ask", "a", "b"], default=True)
        """,
    )
    child = pexpect.spawn(
        sys.executable,
        ["-m", "minimake", "-j3"],
        cwd=str(tmp_path),
        env=environment(),
        encoding="utf-8",
        timeout=30,
    )
    child.expect_exact("Are you sure? [y/N] ")
    child.sendline("yes")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    assert (tmp_path / "answer").read_text() == "got yes\n"


def test_a_failed_recipe_says_why_in_error(tmp_path: Path) -> None:
    import minimake

    def fail() -> None:
        raise ValueError("bad input")

    result = minimake.build(
        [minimake.Task.create("p", recipe=fail), minimake.Task.create("s", recipe="exit 3")],
        goals=["p", "s"],
        root=str(tmp_path),
        keep_going=True,
        executor="thread",
        journal=False,
    )
    assert result.tasks["p"].error == "ValueError: bad input"
    assert result.tasks["s"].error == "Error 3"


def test_the_display_has_no_negative_eta_and_no_red_bar_without_a_failure() -> None:
    from rich.console import Console, Group
    from rich.progress_bar import ProgressBar
    from rich.table import Table

    from minimake.result import Status, TaskResult
    from minimake.view.progress import Board

    now = [0.0]
    board = Board(lambda: now[0])
    expected = {"a": 0.1, "b": 0.2, "c": 2.3}  # their sum less each: -4e-16
    board.begin(3, 1, expected)
    for name, seconds in expected.items():
        board.start(name)
        now[0] += seconds
        board.finish(name, seconds)
        board.record(TaskResult(name, Status.RAN))
    eta = board.eta()
    assert eta is not None
    assert eta >= 0.0
    group = board.renderable()
    assert isinstance(group, Group)
    line = group.renderables[0]
    assert isinstance(line, Table)
    bar = line.columns[0]._cells[0]
    assert isinstance(bar, ProgressBar)
    for style in (bar.complete_style, bar.finished_style):
        color = Console().get_style(str(style)).color
        assert color is not None
        red, green, _ = color.get_truecolor()
        assert not (red > 150 and green < 100), style


def test_did_you_mean_names_files_on_disk(tmp_path: Path) -> None:
    (tmp_path / "data.csv").write_text("1\n")
    write_tasks(tmp_path, 'from minimake import task\ntask("out", deps="data.cvs", recipe="x")\n')
    run = cli(cwd=tmp_path)
    assert run.returncode == 2
    assert "Did you mean 'data.csv'?" in run.stderr


def test_the_summary_says_when_parallelism_exceeds_the_cores(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from minimake.result import BuildResult, Status, TaskResult
    from minimake.view import report

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    tasks = {n: TaskResult(n, Status.RAN, seconds=6.0, attempts=1) for n in "abcdefghij"}
    lines = [line.plain for line in report.summary_lines(BuildResult(tasks, ("all",), 8.0))]
    assert (
        "parallelism 7.5x (more than this machine's 2 cores: recipes waited for them)" in (lines[1])
    )
