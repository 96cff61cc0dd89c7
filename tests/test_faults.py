"""Faults and odd input: make's message or a clear one, exit 2, never a traceback; and reports
that say what really happened (blocked, not started, interrupted, counted)."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import minimake
from minimake import Status, Task, cli
from minimake.disk import Disk
from minimake.errors import DuplicateOutputError, TaskDefinitionError
from minimake.graph import build_graph
from minimake.result import INTERRUPTED, BuildResult, TaskResult
from minimake.view.report import Counts, failure_report, summary_lines
from tests.conftest import (
    REPO,
    RecordingReporter,
    alive,
    needs_make,
    start,
    touch,
    write_tasks,
)
from tests.conftest import cli as run_cli


def build(tmp_path: Path, tasks: list[Task], *goals: str, **options):  # type: ignore[no-untyped-def]
    options.setdefault("reporter", RecordingReporter())
    options.setdefault("executor", "thread")
    return minimake.build(tasks, goals, root=tmp_path, **options)


def main(capsys: pytest.CaptureFixture[str], folder: Path, *args: str) -> tuple[int, str, str]:
    """cli.main in-process, in ``folder``: (exit status, stdout, stderr)."""
    old = os.getcwd()
    os.chdir(folder)
    try:
        status = cli.main(["--progress", "off", *args])
    finally:
        os.chdir(old)
    out, err = capsys.readouterr()
    return status, out, err


ONE = """\
from minimake import task
task("a", recipe="touch a")
"""


# --- the command line


@pytest.mark.parametrize("jobs", [["-j1foo"], ["-j0"], ["-j", "0"], ["-j", "-1"], ["--jobs=x"]])
def test_a_jobs_value_that_is_no_positive_count_is_make_s_error(
    jobs: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_tasks(tmp_path, ONE)
    status, _out, err = main(capsys, tmp_path, *jobs)
    assert status == 2
    assert err.splitlines()[0] == ("minimake: the '-j' option requires a positive integer argument")
    assert not (tmp_path / "a").exists()


def test_a_word_after_a_bare_jobs_is_a_goal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_tasks(tmp_path, ONE + 'task("1foo", recipe="touch 1foo")\n')
    status, _, _ = main(capsys, tmp_path, "-j", "1foo")
    assert status == 0
    assert (tmp_path / "1foo").exists()
    assert not (tmp_path / "a").exists()


def test_graph_takes_a_variable_or_a_goal_and_refuses_an_unknown_format(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_tasks(
        tmp_path,
        """\
        from minimake import task, var
        task("out-" + var("GRID", "full"), recipe="touch $TARGET")
        task("b", recipe="touch b")
        """,
    )
    status, out, _ = main(capsys, tmp_path, "--graph", "GRID=small")
    assert status == 0
    assert '"out-small"' in out
    status, out, _ = main(capsys, tmp_path, "--graph", "b")
    assert status == 0
    assert '"b"' in out
    assert "out-full" not in out
    status, out, err = main(capsys, tmp_path, "--graph", "svg")
    assert status == 2
    assert out == ""
    assert err == "minimake: *** Unknown graph format 'svg': choose dot or mermaid.  Stop.\n"


def test_a_missing_directory_is_make_s_error_and_never_left(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = main(capsys, tmp_path, "-C", "missing")
    assert status == 2
    assert out == ""  # no "Leaving directory" for a folder never entered
    assert err == "minimake: *** missing: No such file or directory.  Stop.\n"


def test_directories_chain_as_in_make(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "inc").mkdir()
    write_tasks(tmp_path / "src", ONE)
    status, out, _ = main(capsys, tmp_path, "-C", "inc", "-C", "../src")
    assert status == 0
    assert out.splitlines() == [
        f"minimake: Entering directory '{tmp_path / 'src'}'",
        "touch a",
        f"minimake: Leaving directory '{tmp_path / 'src'}'",
    ]


def test_a_bogus_start_method_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    write_tasks(tmp_path, ONE)
    monkeypatch.setenv("MINIMAKE_START_METHOD", "bogus")
    status, _, err = main(capsys, tmp_path)
    assert status == 2
    assert err.startswith("minimake: *** MINIMAKE_START_METHOD is 'bogus': choose ")
    assert "Traceback" not in err


def test_sigterm_while_tasks_py_imports_exits_143_as_make(tmp_path: Path) -> None:
    """tasks.py says it is importing through one FIFO, then blocks on another."""
    ready, hold = tmp_path / "ready", tmp_path / "hold"
    os.mkfifo(ready)
    os.mkfifo(hold)
    write_tasks(
        tmp_path,
        """\
        with open("ready", "w") as ready:
            ready.write("importing")
        open("hold").read()
        """,
    )
    process = start(cwd=tmp_path)
    try:
        assert ready.read_text() == "importing"
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 128 + signal.SIGTERM
    assert "Traceback" not in err


def _pipe_to_head(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    """``minimake ARGS | head -1``: minimake's exit status, head's output, minimake's stderr."""
    script = f'"{sys.executable}" -m minimake --progress off {" ".join(args)} 2>err | head -1'
    script += '; exit "${PIPESTATUS[0]}"'
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        ["bash", "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return done.returncode, done.stdout, (tmp_path / "err").read_text()


MANY = """\
from minimake import phony, task
phony("all", deps=[f"out/t{i}" for i in range(40)], order_only=["out"])
task("out", recipe="mkdir -p out")
for i in range(40):
    line = f"{i:02d}" * 1000
    task(f"out/t{i}", order_only=["out"], recipe=[f"echo {line}", f"echo {line} > out/t{i}"])
"""


@pytest.mark.parametrize("args", [["-n"], ["-j2"]], ids=["dry-run", "j2"])
def test_a_closed_stdout_ends_the_build_as_sigpipe_ends_make(
    args: list[str], tmp_path: Path
) -> None:
    """make dies of SIGPIPE (141) when it writes to a closed pipe; minimake stops its recipes,
    deletes what they half wrote, and exits 141 without a traceback."""
    write_tasks(tmp_path, MANY)
    status, out, err = _pipe_to_head(tmp_path, *args)
    assert status == 128 + signal.SIGPIPE, err
    assert out.startswith("mkdir -p out") or out.startswith("echo ")
    assert "Traceback" not in err
    assert "Exception ignored" not in err
    for made in (tmp_path / "out").glob("t*") if (tmp_path / "out").exists() else ():
        number = int(made.name[1:])
        assert made.read_text() == f"{number:02d}" * 1000 + "\n"  # whole, or deleted


def test_a_closed_pipe_for_both_streams_of_a_dry_run_is_sigpipe_too(tmp_path: Path) -> None:
    """``minimake -n 2>&1 | head -1``: stdout and stderr are one pipe, so a dry run writes them
    through one buffer; the closed pipe is still make's SIGPIPE, with no message at exit."""
    write_tasks(tmp_path, MANY)
    script = f'"{sys.executable}" -m minimake -n 2>&1 | head -1; exit "${{PIPESTATUS[0]}}"'
    done = _bash(tmp_path, script)
    assert done.returncode == 128 + signal.SIGPIPE
    assert done.stdout == "would run out: 'out' does not exist\n"
    assert done.stderr == ""


PIECES = """\
from minimake import phony, task
task("part", recipe="echo part > part; while [ ! -e other ]; do sleep 0.01; done; echo END >> part")
task("other", recipe="echo hello; touch other")
phony("all", deps=["part", "other"], default=True)
"""


def _closed(tmp_path: Path, args: str, redirections: str) -> subprocess.CompletedProcess[str]:
    """``minimake ARGS`` with standard streams closed (``>&-``), as a shell runs it."""
    return _bash(tmp_path, f'"{sys.executable}" -m minimake --progress off {args} {redirections}')


def _bash(folder: Path, script: str) -> subprocess.CompletedProcess[str]:
    """``script`` run by bash in ``folder``, with this source tree's minimake."""
    return subprocess.run(
        ["bash", "-c", script],
        cwd=folder,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("redirections", [">&-", "2>&-", ">&- 2>&- <&-"])
def test_a_stream_closed_at_start_is_nowhere_and_the_build_goes_on(
    tmp_path: Path, redirections: str
) -> None:
    """make writes nothing where stdout is closed and goes on (``make -n >&-`` exits 0);
    minimake's own lines go nowhere too, and its recipes, whose output it captures, finish."""
    write_tasks(tmp_path, PIECES)
    done = _closed(tmp_path, "-s -j2", redirections)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert (tmp_path / "part").read_text() == "part\nEND\n"
    assert (tmp_path / "other").exists()
    assert not (tmp_path / ".minimake" / "journal").read_text().count("hello")
    again = _closed(tmp_path, "-n", redirections)
    assert again.returncode == 0, again.stderr
    assert "Traceback" not in again.stderr


class _BrokenOutput(RecordingReporter):
    """A reporter whose output breaks when the first recipe ends (a closed stdout), and
    again at each thing the clean-up says."""

    def finished(self, task, result, ignored):  # type: ignore[no-untyped-def]
        raise AttributeError("'NoneType' object has no attribute 'write'")

    def interrupted(self, task):  # type: ignore[no-untyped-def]
        raise BrokenPipeError

    def deleting(self, path):  # type: ignore[no-untyped-def]
        raise BrokenPipeError


def test_a_reporter_that_breaks_stops_every_recipe_and_trusts_none(tmp_path: Path) -> None:
    """Whatever breaks the build loop, no recipe is left running and no half-written target
    is left looking finished: the other recipe's group is killed and its target deleted."""
    tasks = [
        Task.create(
            "slow",
            recipe="echo $$ > slow.pid; echo part > slow; while :; do sleep 0.01; done",
        ),
        Task.create("quick", recipe="while [ ! -e slow ]; do sleep 0.01; done; touch quick"),
    ]
    with pytest.raises(AttributeError):
        minimake.build(tasks, ["slow", "quick"], root=tmp_path, jobs=2, reporter=_BrokenOutput())
    assert not alive(int((tmp_path / "slow.pid").read_text()))
    assert not (tmp_path / "slow").exists()
    journal = (tmp_path / ".minimake" / "journal").read_text().splitlines()
    assert not [line for line in journal if line.startswith("d\tslow")]


# --- declarations


def test_paths_are_normalised_at_declaration(tmp_path: Path) -> None:
    touch(tmp_path / "src", 0)
    tasks = [
        Task.create("./a.txt", deps=["sub/../src"], recipe="cp src a.txt"),
        Task.create("b.txt", deps=["./a.txt"], recipe="cp a.txt b.txt"),
    ]
    assert [t.name for t in tasks] == ["a.txt", "b.txt"]
    result = build(tmp_path, tasks, "./b.txt")
    assert result.ok
    assert result.goals == ("b.txt",)
    assert str(result.tasks["b.txt"].reason) == "'b.txt' does not exist"
    assert (tmp_path / "b.txt").exists()


@pytest.mark.parametrize("other", ["./out.txt", "sub/../out.txt", "out.txt/"])
def test_one_file_under_two_spellings_is_written_twice(other: str) -> None:
    with pytest.raises(DuplicateOutputError) as caught:
        build_graph([Task.create("out.txt", recipe=":"), Task.create(other, recipe=":")])
    assert caught.value.path == "out.txt"


@pytest.mark.parametrize("recipe", [[], "", "   ", ["echo a", ""]])
def test_an_empty_recipe_is_refused(recipe: object) -> None:
    with pytest.raises(TaskDefinitionError) as caught:
        Task.create("x", recipe=recipe)
    assert caught.value.field == "recipe"
    assert "must not be empty" in str(caught.value)


def test_the_decorator_form_takes_arguments(tmp_path: Path) -> None:
    write_tasks(
        tmp_path,
        """\
        from pathlib import Path
        from minimake import task

        @task("d.txt", args=("hello",), kwargs={"end": "!"})
        def write(text, end):
            Path("d.txt").write_text(text + end)
        """,
    )
    done = run_cli(cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "d.txt").read_text() == "hello!"


def test_arguments_without_a_recipe_are_refused() -> None:
    with pytest.raises(TaskDefinitionError) as caught:
        build_graph([Task.create("x", args=(1,))])
    assert caught.value.field == "args"


# --- the file system


def test_stat_errors_other_than_missing_are_warned_and_read_as_missing(tmp_path: Path) -> None:
    (tmp_path / "loop").symlink_to("loop")
    warnings: list[str] = []
    disk = Disk(str(tmp_path), warn=warnings.append)
    assert not disk.exists("loop")
    assert not disk.exists("x" * 300)
    assert warnings == [
        "stat: loop: Too many levels of symbolic links",
        f"stat: {'x' * 300}: File name too long",
    ]


def test_a_file_from_the_future_is_warned_once_and_the_skew_noted(tmp_path: Path) -> None:
    future = tmp_path / "b"
    future.touch()
    stamp = (int(os.stat(future).st_mtime) + 3600) * 1_000_000_000
    os.utime(future, ns=(stamp, stamp))
    reporter = RecordingReporter()
    tasks = [Task.create("a", deps=["b"], recipe="touch a")]
    result = build(tmp_path, tasks, "a", reporter=reporter)
    assert result.ok
    warnings = [event[1] for event in reporter.events if event[0] == "warning"]
    assert len(warnings) == 2
    assert warnings[0].startswith("Warning: File 'b' has modification time 35")
    assert warnings[0].endswith(" s in the future")
    assert warnings[1] == "warning:  Clock skew detected.  Your build may be incomplete."


def test_a_failed_recipe_s_folder_is_not_deleted(tmp_path: Path) -> None:
    reporter = RecordingReporter()
    result = build(tmp_path, [Task.create("d", recipe="mkdir d; exit 1")], "d", reporter=reporter)
    assert result.tasks["d"].status is Status.FAILED
    assert (tmp_path / "d").is_dir()
    assert not [event for event in reporter.events if event[0] == "deleting"]


def test_touch_in_a_missing_folder_fails_the_task_as_make_does(tmp_path: Path) -> None:
    tasks = [Task.create("sub/x", recipe="echo hi > sub/x"), Task.create("y", recipe=":")]
    result = build(tmp_path, tasks, "sub/x", "y", touch=True, keep_going=True)
    failed = result.tasks["sub/x"]
    assert failed.status is Status.FAILED
    assert failed.outcome is not None
    assert failed.outcome.error == "touch: open: sub/x: No such file or directory"
    assert result.tasks["y"].status is Status.TOUCHED
    assert (tmp_path / "y").exists()


def test_touch_and_dry_run_prints_the_touches_and_touches_nothing(tmp_path: Path) -> None:
    reporter = RecordingReporter()
    tasks = [Task.create("a", deps=["b"], recipe="cp b a"), Task.create("b", recipe="echo > b")]
    lines: list[list[str]] = []
    reporter.started = lambda task, reason, echo: lines.append(echo)  # type: ignore[method-assign]
    result = build(tmp_path, tasks, "a", touch=True, dry_run=True, reporter=reporter)
    assert lines == [["touch b"], ["touch a"]]
    assert result.ok
    assert not any(tmp_path.iterdir())


# --- reports that tell the truth


class _Gate(RecordingReporter):
    """Creates ``file`` in ``folder`` when the build first reports ``event`` for ``name``."""

    def __init__(self, folder: Path, rules: dict[tuple[str, str], str]) -> None:
        super().__init__()
        self.folder, self.rules = folder, rules

    def waiting(self) -> None:
        super().waiting()
        self._open("waiting", "")

    def finished(self, task, result, ignored):  # type: ignore[no-untyped-def]
        super().finished(task, result, ignored)
        self._open("finished", task.name)

    def _open(self, event: str, name: str) -> None:
        file = self.rules.get((event, name))
        if file:
            (self.folder / file).touch()


def test_waiting_for_unfinished_jobs_is_said_once_per_build(tmp_path: Path) -> None:
    """bad1 fails while bad2 and slow run; bad2 fails (once told the build waits) while slow
    still runs (it ends once bad2's end was reported): make says 'Waiting' once."""
    wait = "while [ ! -e {} ]; do sleep 0.01; done"
    tasks = [
        Task.create("bad1", recipe="exit 1"),
        Task.create("bad2", recipe=f"{wait.format('go')}; exit 1"),
        Task.create("slow", recipe=f"{wait.format('go2')}; touch slow"),
        Task.create("all", deps=["bad1", "bad2", "slow"], phony=True),
    ]
    reporter = _Gate(tmp_path, {("waiting", ""): "go", ("finished", "bad2"): "go2"})
    result = build(tmp_path, tasks, "all", jobs=3, reporter=reporter)
    assert reporter.events.count(("waiting",)) == 1
    assert result.tasks["bad2"].status is Status.FAILED
    assert result.tasks["slow"].status is Status.RAN


def test_tasks_never_started_are_not_called_blocked(tmp_path: Path) -> None:
    tasks = [
        Task.create("bad", recipe="exit 1"),
        Task.create("good.txt", recipe="touch good.txt"),
        Task.create("report.txt", deps=["good.txt"], recipe="touch report.txt"),
        Task.create("needs-bad", deps=["bad"], recipe=":"),
        Task.create("all", deps=["bad", "report.txt", "needs-bad"], phony=True),
    ]
    result = build(tmp_path, tasks, "all")
    assert result.tasks["good.txt"].blocked_by is None
    assert result.tasks["report.txt"].blocked_by is None
    assert result.tasks["needs-bad"].blocked_by == "bad"
    assert result.tasks["all"].blocked_by == "bad"
    text = [line.plain for line in failure_report(result, {})]
    assert "    blocked: needs-bad, all" in text
    assert "Not started, the build stopped: good.txt, report.txt" in text
    document = _json(tmp_path, result)
    by_name = {task["name"]: task for task in document["tasks"]}
    assert by_name["good.txt"]["blocked_by"] is None
    assert sum(document["counts"].values()) == len(document["tasks"])


def test_with_keep_going_each_failure_lists_what_it_blocked(tmp_path: Path) -> None:
    tasks = [
        Task.create("bad1", recipe="exit 1"),
        Task.create("bad2", recipe="exit 2"),
        Task.create("a1", deps=["bad1"], recipe=":"),
        Task.create("a2", deps=["bad2"], recipe=":"),
    ]
    result = build(tmp_path, tasks, "a1", "a2", keep_going=True)
    text = [line.plain for line in failure_report(result, {})]
    first, second = text.index("  ✗ bad1: Error 1"), text.index("  ✗ bad2: Error 2")
    assert "    blocked: a1" in text[first:second]
    assert "    blocked: a2" in text[second:]
    assert "    blocked: a2" not in text[first:second]
    assert not [line for line in text if line.startswith("Not started")]


def _json(tmp_path: Path, result: BuildResult) -> dict:  # type: ignore[type-arg]
    from minimake.view.report import json_document

    return json.loads(json.dumps(json_document(result)))


def test_the_progress_counter_ends_at_its_total(tmp_path: Path) -> None:
    write_tasks(
        tmp_path,
        """\
        from minimake import phony, task
        phony("all", deps=["a", "b"])
        task("a", recipe="touch a")
        task("b", deps=["a"], recipe="touch b")
        """,
    )
    done = run_cli("--progress", "plain", cwd=tmp_path)
    counters = [line.split("]")[0] + "]" for line in done.stderr.splitlines() if line[:1] == "["]
    assert counters == ["[1/2]", "[2/2]"]


def test_an_interrupted_run_is_not_summarised_as_failed() -> None:
    result = BuildResult(
        {
            "a": TaskResult("a", Status.RAN, seconds=1.0),
            "b": TaskResult("b", Status.FAILED, error=INTERRUPTED),
            "c": TaskResult("c", Status.FAILED, error=INTERRUPTED),
        },
        ("all",),
        2.0,
        interrupted=True,
    )
    counts = Counts.of(result)
    assert (counts.failed, counts.interrupted) == (0, 2)
    head = summary_lines(result)[0].plain
    assert head.startswith("Interrupted: 1 ran, 0 up to date, 0 failed, 2 interrupted, 0 skipped")
    text = [line.plain for line in failure_report(result, {})]
    assert text == ["Stopped by the interrupt: b, c"]


def test_status_values_are_the_json_words(tmp_path: Path) -> None:
    result = build(tmp_path, [Task.create("a", recipe="touch a")], "a", dry_run=True)
    document = _json(tmp_path, result)
    assert [task["status"] for task in document["tasks"]] == ["would_run"]
    assert {status.value for status in Status} == {status.name.lower() for status in Status}


# --- a failure log that cannot be written: the half-written target goes first, then a warning

PARTIAL = """
from minimake import task
task("out.txt", recipe=["echo partial > out.txt", "exit 1"])
"""


def test_a_minimake_folder_that_is_a_file_stops_the_build_before_anything_runs(
    tmp_path: Path,
) -> None:
    write_tasks(tmp_path, PARTIAL)
    (tmp_path / ".minimake").write_text("not a folder")
    run = run_cli("--progress", "off", cwd=tmp_path)
    assert run.returncode == 2
    assert "Cannot keep the journal" in run.stderr
    assert "Traceback" not in run.stderr
    assert not (tmp_path / "out.txt").exists()


def test_without_the_journal_a_log_that_cannot_be_written_is_a_warning(tmp_path: Path) -> None:
    write_tasks(tmp_path, PARTIAL)
    (tmp_path / ".minimake").write_text("not a folder")
    run = run_cli("--progress", "plain", "--no-journal", cwd=tmp_path)
    assert run.returncode == 2
    assert "Traceback" not in run.stderr
    assert "minimake: *** Deleting file 'out.txt'" in run.stderr
    assert "minimake: warning: cannot write the log of 'out.txt'" in run.stderr
    assert not (tmp_path / "out.txt").exists()
    assert "Failed: 1 task" in run.stderr


def test_a_full_disk_when_keeping_the_log_deletes_the_target_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from minimake.logs import Logs

    write_tasks(tmp_path, PARTIAL)
    seen: list[bool] = []

    def full(self: Logs, task: object, result: object, attempts: int = 1) -> str:
        seen.append((tmp_path / "out.txt").exists())
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(Logs, "keep", full)
    reporter = RecordingReporter()
    result = minimake.build(tmp_path / "tasks.py", reporter=reporter)
    assert seen == [False]  # the partial target was gone before the log was tried
    failure = result.tasks["out.txt"]
    assert failure.status is minimake.Status.FAILED
    assert failure.tail == ("exit 1",)  # the later line, echoed as it ran
    assert ("deleting", "out.txt") in reporter.events
    assert any(event[0] == "warning" for event in reporter.events)


def test_a_journal_that_cannot_be_written_stops_the_build_and_loses_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The disk fills up while the build runs: from the third recipe's start record on, the
    journal cannot be written. That recipe was already on its way; nothing starts after it,
    the build ends with make's "Stop.", and the next run builds exactly what is left."""
    write_tasks(
        tmp_path,
        """
        from minimake import phony, task
        for n in range(6):
            task(f"o{n}", recipe=f"touch o{n}")
        phony("all", deps=[f"o{n}" for n in range(6)], default=True)
        """,
    )
    write, starts = os.write, []

    def full_from_the_third_start(fd: int, data: bytes) -> int:
        # A start record (the first follows the run's token): only the journal writes these.
        if b"\ns\t" in b"\n" + bytes(data):
            starts.append(fd)
            if len(starts) >= 3:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return write(fd, data)

    monkeypatch.setattr(os, "write", full_from_the_third_start)
    status, _, err = main(capsys, tmp_path, "-j1")
    monkeypatch.undo()
    assert status == 2
    assert "Traceback" not in err
    assert err.rstrip().endswith(
        "minimake: *** Cannot write the journal '.minimake/journal': No space left on device"
        " (--no-journal runs without)  Stop."
    )
    assert sorted(path.name for path in tmp_path.glob("o*")) == ["o0", "o1", "o2"]
    journal = (tmp_path / ".minimake" / "journal").read_text()
    assert [line.split("\t")[:2] for line in journal.splitlines() if line[:2] == "d\t"] == [
        ["d", "o0"],
        ["d", "o1"],
    ]
    # o2's recipe ran to its end without a record: its target is as fresh as the others'.
    status, out, _ = main(capsys, tmp_path, "-j1")
    assert status == 0
    assert out.splitlines() == ["touch o3", "touch o4", "touch o5"]


def test_a_short_write_ends_the_journal_s_writing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write() that stores part of a record (the disk filled up within it) counts as a
    failure: nothing is appended after a torn record, which the next read drops."""
    from minimake.journal import Journal

    journal = Journal(str(tmp_path), writable=True)
    write, calls = os.write, []

    def short(fd: int, data: bytes) -> int:
        calls.append(bytes(data))
        return write(fd, data[:-1])

    monkeypatch.setattr(os, "write", short)
    journal.finished("a", 1.0, None)
    journal.finished("b", 2.0, None)
    monkeypatch.undo()
    journal.close()
    assert journal.failure is not None
    assert "No space left on device" in str(journal.failure)
    assert len(calls) == 1
    again = Journal(str(tmp_path), writable=False)
    assert again.durations == {}  # the torn record is not read


def test_a_task_name_too_long_for_a_file_name_still_gets_its_log(tmp_path: Path) -> None:
    name = "x" * 300
    write_tasks(tmp_path, f'from minimake import phony\nphony("{name}", recipe="exit 3")\n')
    run = run_cli("--progress", "plain", name, cwd=tmp_path)
    assert run.returncode == 2
    assert "Traceback" not in run.stderr
    (log,) = (tmp_path / ".minimake" / "logs").iterdir()
    assert len(log.name.encode()) <= 255
    assert f"# task: {name}" in log.read_text()


def _said(text: str) -> None:
    print(text)


@pytest.fixture
def full_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    """No room for a file anywhere a recipe's output could be kept."""
    from minimake.execution import capture

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "out")

    monkeypatch.setattr(capture._Pooled, "create", full)
    monkeypatch.setattr(capture.tempfile, "mkdtemp", full)
    monkeypatch.setattr(capture, "_said_full", False, raising=False)


@pytest.mark.usefixtures("full_disk")
def test_a_recipe_whose_output_cannot_be_kept_runs_and_its_output_passes_through(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """A full project disk: the recipe writes its target elsewhere and succeeds, as under
    make; what it prints goes straight to minimake's stdout, and minimake says why."""
    (tmp_path / ".minimake").mkdir()
    (tmp_path / ".minimake" / "out").write_text("")  # no capture folder can be made here
    shell = Task("t.txt", recipe="echo from-shell; touch t.txt")
    python = Task("p", recipe=_said, args=("from-python",), phony=True)
    result = build(tmp_path, [shell, python], "t.txt", "p")
    assert result.ok
    out, err = capfd.readouterr()
    assert "from-shell" in out
    assert "from-python" in out
    assert err.count("warning: cannot keep recipes' output in 'out': No space left") == 1


@pytest.mark.usefixtures("full_disk")
def test_when_no_capture_file_can_be_made_the_recipe_still_runs(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    result = build(tmp_path, [Task("t.txt", recipe="echo from-shell; touch t.txt")])
    assert result.ok
    assert (tmp_path / "t.txt").exists()
    assert "from-shell" in capfd.readouterr().out


def test_a_capture_folder_without_room_passes_the_output_through(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Less than 1 MiB left when the build starts: the recipe's echo would fail to write its
    capture file, so its output goes straight to minimake's own from the start."""
    from types import SimpleNamespace

    from minimake.execution import capture

    monkeypatch.setattr(capture, "_said_full", False)
    monkeypatch.setattr(
        capture.os, "statvfs", lambda path: SimpleNamespace(f_bavail=1, f_frsize=4096)
    )
    result = build(tmp_path, [Task("t.txt", recipe="echo from-shell; touch t.txt")])
    assert result.ok
    out, err = capfd.readouterr()
    assert "from-shell" in out
    assert "No space left on device" in err
    assert not list((tmp_path / ".minimake" / "out").iterdir())


# --- reports that cannot be written


@pytest.mark.parametrize(
    ("where", "problem"), [("/dev/full", "No space left on device"), ("folder", "Is a directory")]
)
def test_a_trace_that_cannot_be_written_is_make_s_error_after_the_build(
    tmp_path: Path, where: str, problem: str
) -> None:
    """A full disk, or a folder where the file should go: one clear line and status 2, the
    build's own work done and kept."""
    write_tasks(tmp_path, ONE)
    (tmp_path / "folder").mkdir()
    done = run_cli("--progress", "off", "--trace", where, cwd=tmp_path)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    shown = where if where.startswith("/") else str(tmp_path / where)
    assert done.stderr.splitlines()[-1] == (
        f"minimake: *** Cannot write the trace '{shown}': {problem}."
    )
    assert (tmp_path / "a").exists()


def test_a_timing_page_that_cannot_be_written_is_an_error_after_the_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from minimake.view import timings_page

    def full(run: object, folder: str) -> str:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), folder + "/page.html")

    monkeypatch.setattr(timings_page, "save", full)
    write_tasks(tmp_path, ONE)
    status, _out, err = main(capsys, tmp_path, "--timings")
    assert status == 2
    assert err.splitlines()[-1] == (
        f"minimake: *** Cannot write the timing page '{tmp_path}/.minimake/timings/page.html'"
        ": No space left on device."
    )
    assert (tmp_path / "a").exists()


@needs_make
@pytest.mark.parametrize(
    "args", [["-f", "folder"], ["-f", "/dev/null"], ["-f", "/dev/null", "all"]]
)
def test_a_tasks_file_that_is_a_folder_or_empty_is_make_s_error(
    tmp_path: Path, args: list[str]
) -> None:
    """Side by side with make: a folder "Is a directory"; /dev/null is an empty file, so
    "No targets", or no rule for a goal named."""
    (tmp_path / "folder").mkdir()
    ours = run_cli("--progress", "off", *args, cwd=tmp_path)
    make = subprocess.run(
        ["make", *args], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert (ours.returncode, ours.stderr) == (
        make.returncode,
        make.stderr.replace("make:", "minimake:"),
    )
