"""The real command line: every flag, make's messages and exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests import conftest
from tests.conftest import environment, touch, write_tasks


def cli(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120):  # type: ignore[no-untyped-def]
    """The CLI with make's output only (no progress lines), to compare with make's exactly."""
    return conftest.cli(*args, cwd=cwd, env={"MINIMAKE_PROGRESS": "off", **(env or {})})


CHAIN = """\
from minimake import task, phony
task("b.txt", deps=["a.txt"], recipe="sort a.txt > b.txt")
task("c.txt", deps=["b.txt"], recipe=["cp b.txt c.txt", "echo made c"])
phony("all", deps=["c.txt"], default=True)
phony("clean", recipe="rm -f b.txt c.txt")
"""


@pytest.fixture
def chain(tmp_path: Path) -> Path:
    write_tasks(tmp_path, CHAIN)
    touch(tmp_path / "a.txt", 0, "z\na\n")
    return tmp_path


def test_build_echoes_recipes_and_prints_their_output(chain: Path) -> None:
    run = cli(cwd=chain)
    assert run.returncode == 0, run.stderr
    assert run.stdout == "sort a.txt > b.txt\ncp b.txt c.txt\necho made c\nmade c\n"
    assert (chain / "c.txt").read_text() == "a\nz\n"


def test_nothing_to_be_done_and_up_to_date(chain: Path) -> None:
    cli(cwd=chain)
    assert cli(cwd=chain).stdout == "minimake: Nothing to be done for 'all'.\n"
    assert cli("c.txt", cwd=chain).stdout == "minimake: 'c.txt' is up to date.\n"
    assert cli("a.txt", cwd=chain).stdout == "minimake: Nothing to be done for 'a.txt'.\n"


def test_silent_drops_echo_and_up_to_date_lines(chain: Path) -> None:
    assert cli("-s", cwd=chain).stdout == "made c\n"
    assert cli("-s", cwd=chain).stdout == ""


def test_dry_run_prints_in_order_and_writes_nothing(chain: Path) -> None:
    run = cli("-n", cwd=chain)
    assert run.returncode == 0
    assert run.stdout == "sort a.txt > b.txt\ncp b.txt c.txt\necho made c\n"
    assert sorted(p.name for p in chain.iterdir()) == ["a.txt", "tasks.py"]


def test_dry_run_shows_python_recipe_as_its_call(tmp_path: Path) -> None:
    write_tasks(
        tmp_path,
        """\
        from minimake import task
        def fit(alpha, seed=0):
            pass
        task("m.pkl", recipe=fit, args=(0.1,), kwargs={"seed": 3})
        """,
    )
    assert cli("-n", cwd=tmp_path).stdout == "fit(0.1, seed=3)\n"


def test_question_exit_codes(chain: Path) -> None:
    stale = cli("-q", cwd=chain)
    assert (stale.returncode, stale.stdout, stale.stderr) == (1, "", "")
    cli(cwd=chain)
    assert cli("-q", cwd=chain).returncode == 0
    assert cli("-q", "clean", cwd=chain).returncode == 1  # a phony goal with a recipe
    assert cli("-q", "nosuch", cwd=chain).returncode == 2


def test_touch_prints_touch_lines(chain: Path) -> None:
    run = cli("-t", cwd=chain)
    assert run.stdout == "touch b.txt\ntouch c.txt\n"
    assert (chain / "c.txt").read_text() == ""
    assert cli("-q", cwd=chain).returncode == 0


def test_always_make(chain: Path) -> None:
    cli(cwd=chain)
    assert cli("-B", cwd=chain).stdout.startswith("sort a.txt > b.txt\n")


def test_what_if_and_old_file(chain: Path) -> None:
    cli(cwd=chain)
    assert cli("-n", "-W", "a.txt", cwd=chain).stdout.startswith("sort a.txt")
    assert cli("-q", "-W", "a.txt", cwd=chain).returncode == 1
    touch(chain / "a.txt", 10**9)
    assert cli("-n", "-o", "b.txt", cwd=chain).stdout == "minimake: Nothing to be done for 'all'.\n"


def test_failure_messages_and_exit_code(tmp_path: Path) -> None:
    write_tasks(
        tmp_path,
        """\
        from minimake import task, phony
        task("bad", recipe="echo partial > bad; echo oops; exit 3")
        task("after", deps=["bad"], recipe="touch after")
        task("ok", recipe="touch ok")
        phony("all", deps=["after", "ok"])
        """,
    )
    run = cli("-k", "all", cwd=tmp_path)
    assert run.returncode == 2
    assert "oops\n" in run.stdout
    assert run.stderr.splitlines() == [
        "minimake: *** [tasks.py:2: bad] Error 3",
        "minimake: *** Deleting file 'bad'",
        "minimake: Target 'all' not remade because of errors.",
    ]
    assert (tmp_path / "ok").exists()
    assert not (tmp_path / "bad").exists()
    ignored = cli("-i", "all", cwd=tmp_path)
    assert ignored.returncode == 0
    assert "minimake: [tasks.py:2: bad] Error 3 (ignored)" in ignored.stderr
    assert (tmp_path / "after").exists()


def test_stop_without_keep_going(tmp_path: Path) -> None:
    write_tasks(
        tmp_path,
        """\
        from minimake import task, phony
        task("bad", recipe="exit 1")
        task("later", recipe="touch later")
        phony("all", deps=["bad", "later"])
        """,
    )
    run = cli("all", cwd=tmp_path)
    assert run.returncode == 2
    assert run.stderr == "minimake: *** [tasks.py:2: bad] Error 1\n"
    assert not (tmp_path / "later").exists()


def test_killed_recipe_says_how(tmp_path: Path) -> None:
    write_tasks(tmp_path, 'from minimake import task\ntask("k", recipe="kill -9 $$")\n')
    assert cli(cwd=tmp_path).stderr == "minimake: *** [tasks.py:2: k] Killed\n"


def test_python_exception_shows_message_and_traceback_with_verbose(tmp_path: Path) -> None:
    write_tasks(
        tmp_path,
        """\
        from minimake import task
        def boom():
            raise ValueError("bad input")
        task("x", recipe=boom)
        """,
    )
    run = cli(cwd=tmp_path)
    assert run.returncode == 2
    assert run.stderr.splitlines()[0] == "minimake: *** [tasks.py:4: x] ValueError: bad input"
    assert "Traceback" not in run.stderr
    assert "Traceback" in cli("-v", cwd=tmp_path).stderr


@pytest.mark.parametrize(
    ("source", "args", "stderr"),
    [
        (
            'from minimake import task\ntask("a", deps=["b"])\ntask("b", deps=["a"])\n',
            (),
            "minimake: *** Dependency cycle: a -> b -> a.  Stop.\n",
        ),
        (
            'from minimake import task\ntask("a", deps=["nosuch.c"], recipe="x")\n',
            (),
            "minimake: *** No rule to make target 'nosuch.c', needed by 'a'.  Stop.\n",
        ),
        (
            'from minimake import task\ntask("a", recipe="x")\ntask("a", recipe="y")\n',
            (),
            "minimake: *** Tasks 'a' (tasks.py:2) and 'a' (tasks.py:3) both write 'a'.  Stop.\n",
        ),
        (
            'from minimake import task\ntask("train", recipe="x")\n',
            ("trian",),
            "minimake: *** No rule to make target 'trian'.  Stop.\n"
            "minimake: Did you mean 'train'?\n",
        ),
        (
            'from minimake import task\ntask("a", recipe="x")\nraise RuntimeError("no")\n',
            (),
            "minimake: *** tasks.py:3: RuntimeError: no  Stop.\n",
        ),
    ],
)
def test_errors_before_anything_runs(tmp_path: Path, source: str, args: tuple, stderr: str):
    write_tasks(tmp_path, source)
    run = cli(*args, cwd=tmp_path)
    assert (run.returncode, run.stderr) == (2, stderr)


def test_no_tasks_file(tmp_path: Path) -> None:
    run = cli(cwd=tmp_path)
    assert run.returncode == 2
    assert run.stderr == "minimake: *** No targets specified and no tasks.py found.  Stop.\n"
    assert cli("-f", "other.py", cwd=tmp_path).stderr == (
        "minimake: *** other.py: No such file or directory.  Stop.\n"
    )


def test_file_and_directory_options(chain: Path, tmp_path_factory: pytest.TempPathFactory):
    (chain / "tasks.py").rename(chain / "build.py")
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    run = cli("-C", str(chain), "-f", "build.py", cwd=elsewhere)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[0] == f"minimake: Entering directory '{chain}'"
    assert run.stdout.splitlines()[-1] == f"minimake: Leaving directory '{chain}'"
    assert (chain / "c.txt").exists()
    bad = cli("-C", str(chain / "nope"), cwd=elsewhere)
    assert bad.returncode == 2
    assert "No such file or directory" in bad.stderr


def test_command_line_variables(tmp_path: Path) -> None:
    write_tasks(
        tmp_path,
        """\
        from minimake import task, var
        task("out", recipe=f"echo {var('GRID', 'full')} $MODE > out")
        """,
    )
    assert cli("-j4", "out", "GRID=small", "MODE=x y", cwd=tmp_path).returncode == 0
    assert (tmp_path / "out").read_text() == "small x y\n"


def test_jobs_forms(chain: Path) -> None:
    assert cli("-j", "all", cwd=chain).returncode == 0  # bare -j: one job per core
    assert cli("-j", "3", "-n", cwd=chain).returncode == 0
    assert cli("--jobs=2", "-B", cwd=chain).returncode == 0


def test_version_and_help(tmp_path: Path) -> None:
    assert cli("--version", cwd=tmp_path).stdout.startswith("minimake ")
    assert "--keep-going" in cli("-h", cwd=tmp_path).stdout


def test_python_dash_m_and_console_script_agree(chain: Path) -> None:
    import shutil
    import subprocess

    script = shutil.which("minimake")
    if script is None:
        pytest.skip("the minimake console script is not installed (pip install -e .)")
    run = subprocess.run([script, "-n"], cwd=chain, capture_output=True, text=True, check=False)
    assert run.stdout == cli("-n", cwd=chain).stdout


def test_off_a_terminal_each_event_is_a_plain_line_on_stderr(tmp_path: Path) -> None:
    """By default a pipe gets make's stdout, and one plain line per event on stderr."""
    write_tasks(
        tmp_path,
        """\
        from minimake import task, phony
        task("bad", recipe="exit 3")
        task("ok", recipe="touch ok")
        phony("all", deps=["bad", "ok"], default=True)
        """,
    )
    run = conftest.cli("-k", cwd=tmp_path)
    assert run.stdout == "exit 3\ntouch ok\n"
    assert "[1/2] FAILED bad" in run.stderr
    assert "[2/2] done ok" in run.stderr
    assert "\x1b" not in run.stdout + run.stderr  # no control codes


def test_explain_builds_the_graph_once(
    chain: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """--explain reads the same prepared build as its dry run: one graph, not one per step."""
    from minimake import cli as minimake_cli
    from minimake import graph

    built: list[int] = []
    real = graph._build_graph

    def counted(tasks):  # type: ignore[no-untyped-def]
        built.append(1)
        return real(tasks)

    monkeypatch.setattr(graph, "_build_graph", counted)
    monkeypatch.chdir(chain)
    assert minimake_cli.main(["--progress", "off", "--explain", "c.txt"]) == 0
    assert capsys.readouterr().out.startswith("'c.txt' is stale: ")
    assert len(built) == 1


@pytest.mark.parametrize("dry_run", [True, False])
def test_in_one_pipe_each_echo_comes_before_the_lines_about_its_task(
    tmp_path: Path, dry_run: bool
) -> None:
    """make's stdout is line-buffered: with stdout and stderr in one pipe (`2>&1 | tee log`,
    Python's buffering as a user has it), the lines keep the order they were written in."""
    (tmp_path / "tasks.py").write_text(
        'from minimake import task\ntask("a", recipe="touch a")\ntask("b", "a", "touch b")\n'
    )
    env = environment()
    env.pop("PYTHONUNBUFFERED", None)
    run = subprocess.run(
        [sys.executable, "-m", "minimake", *(["-n"] if dry_run else []), "b"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=True,
    )
    lines = run.stdout.splitlines()
    if dry_run:
        assert lines[:4] == [
            "would run a: 'a' does not exist",
            "touch a",
            "would run b: 'b' does not exist",
            "touch b",
        ]
    else:
        assert [line.split(" (")[0] for line in lines[:4]] == [
            "touch a",
            "[1/2] done a",
            "touch b",
            "[2/2] done b",
        ]
    assert lines[4].startswith("Summary: ")


# A dry run whose stdout and stderr are one file: what it writes, and how many write() calls.
ONE_FILE = """\
import os, sys
from minimake import cli

def writes():
    with open("/proc/self/io") as io:
        return next(int(line.split()[1]) for line in io if line.startswith("syscw"))

sys.argv = ["minimake", *sys.argv[1:]]
before = writes()
status = cli.main()
with open("writes", "w") as counted:
    counted.write(str(writes() - before))
sys.exit(status)
"""


def test_a_dry_run_into_one_file_keeps_the_order_and_writes_in_blocks(tmp_path: Path) -> None:
    """``minimake -n >log 2>&1``: each task's reason (stderr) comes before its command
    (stdout), as on a terminal, but nothing being live, the lines leave in blocks rather than
    one write() each (make's -n writes each line, and minimake has two per task)."""
    count = 300
    (tmp_path / "tasks.py").write_text(
        "from minimake import task\n"
        f"for n in range({count}):\n"
        '    task(f"t{n}", recipe=f"touch t{n}")\n'
    )
    (tmp_path / "one_file.py").write_text(ONE_FILE)
    with open(tmp_path / "log", "w") as log:
        done = subprocess.run(
            [sys.executable, "one_file.py", "-n", *(f"t{n}" for n in range(count))],
            cwd=tmp_path,
            env=environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=120,
            check=False,
        )
    lines = (tmp_path / "log").read_text().splitlines()
    assert done.returncode == 0, lines[-5:]
    expected = []
    for n in range(count):
        expected += [f"would run t{n}: 't{n}' does not exist", f"touch t{n}"]
    assert lines[:-1] == expected
    assert lines[-1].startswith(f"Summary: {count} would run")
    assert int((tmp_path / "writes").read_text()) < count // 10
