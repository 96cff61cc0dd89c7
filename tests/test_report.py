"""The end-of-run report: counts, durations, the failure report, task logs and the JSON document."""

from __future__ import annotations

import io
import json
import traceback
from pathlib import Path

import pytest
from rich.console import Console

from minimake import Task
from minimake.disk import Stamp
from minimake.logs import Logs, log_name
from minimake.result import BuildResult, Outcome, Status, TaskResult
from minimake.uptodate import Reason, ReasonKind
from minimake.view.report import (
    Counts,
    failure_report,
    json_document,
    slowest,
    summary_lines,
)
from minimake.words import duration, raised_at
from tests.conftest import cli, write_tasks

X_MISSING = Reason(ReasonKind.MISSING, "x")


def ran(name: str, seconds: float, output: str = "") -> TaskResult:
    return TaskResult(name, Status.RAN, X_MISSING, seconds, Outcome(True, output))


def failed(
    name: str, seconds: float = 1.0, output: str = "", code: int = 2, log: str | None = None
) -> TaskResult:
    outcome = Outcome(False, output, returncode=code)
    tail = tuple(output.splitlines()[-10:])
    return TaskResult(name, Status.FAILED, X_MISSING, seconds, outcome, log=log, tail=tail)


def result_of(*tasks: TaskResult, seconds: float = 10.0, **kw: object) -> BuildResult:
    return BuildResult({t.name: t for t in tasks}, ("all",), seconds, **kw)  # type: ignore[arg-type]


def text(lines: list) -> str:  # type: ignore[type-arg]
    console = Console(file=io.StringIO(), width=200, color_system=None, soft_wrap=True)
    for line in lines:
        console.print(line)
    return console.file.getvalue()  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(0.04, "0.0s"), (12.34, "12.3s"), (59.9, "59.9s"), (125, "2m05s"), (3723, "1h02m03s")],
)
def test_duration_is_short_and_human(seconds: float, shown: str) -> None:
    assert duration(seconds) == shown


def test_counts_put_tasks_without_a_recipe_apart() -> None:
    result = result_of(
        ran("a", 1),
        TaskResult("b", Status.UP_TO_DATE),
        failed("c"),
        TaskResult("d", Status.SKIPPED, blocked_by="c"),
        TaskResult("all", Status.RAN, Reason(ReasonKind.PHONY), has_recipe=False),
    )
    counts = Counts.of(result)
    # Every task counted once, so --json's counts add up to its tasks.
    assert counts == Counts(ran=1, up_to_date=1, failed=1, skipped=1, no_recipe=1)
    assert counts.describe() == "1 ran, 1 up to date, 1 failed, 1 skipped"


def test_counts_name_the_kind_of_run_first() -> None:
    counts = Counts(would_run=3, up_to_date=2)
    assert counts.describe("would run") == "3 would run, 2 up to date, 0 failed, 0 skipped"
    assert Counts(touched=1).describe("touched") == "1 touched, 0 up to date, 0 failed, 0 skipped"


def test_summary_gives_wall_time_work_parallelism_and_slowest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Four cores: no note of too few.
    monkeypatch.setattr("minimake.view.report.available_cores", lambda: 4)
    result = result_of(ran("a", 6.0), ran("b", 9.0), ran("c", 5.0), ran("d", 0.6), seconds=10.0)
    assert text(summary_lines(result)).splitlines() == [
        "Summary: 4 ran, 0 up to date, 0 failed, 0 skipped in 10.0s",
        "Task time 20.6s, parallelism 2.1x",
        "Slowest: b (9.0s), a (6.0s), c (5.0s)",
    ]
    assert [t.name for t in slowest(result, 2)] == ["b", "a"]


def test_summary_of_a_dry_run_has_only_counts() -> None:
    result = result_of(TaskResult("a", Status.WOULD_RUN, Reason(ReasonKind.PHONY)), seconds=0.2)
    assert text(summary_lines(result, "would run")) == (
        "Summary: 1 would run, 0 up to date, 0 failed, 0 skipped in 0.2s\n"
    )


def test_interrupted_summary_says_so() -> None:
    result = result_of(ran("a", 1.0), seconds=2.0, interrupted=True)
    assert text(summary_lines(result)).startswith("Interrupted: 1 ran,")


def test_failure_report_names_exit_code_last_lines_log_and_blocked_tasks() -> None:
    output = "".join(f"line {n}\n" for n in range(1, 16))
    result = result_of(
        failed("train", output=output, code=3, log="logs/train.log"),
        TaskResult("pick", Status.SKIPPED, blocked_by="train"),
        TaskResult("report", Status.SKIPPED, blocked_by="train"),
        ran("other", 1.0),
    )
    train = Task.create("train", recipe="python train.py")
    report = text(failure_report(result, {"train": train}))
    lines = report.splitlines()
    assert lines[0] == "Failed: 1 task"
    assert lines[1].startswith("  ✗ train (")
    assert lines[1].endswith("): Error 3")
    assert [line.strip() for line in lines[2:12]] == [f"│ line {n}" for n in range(6, 16)]
    assert lines[12] == "    full output: logs/train.log"
    assert lines[13] == "    blocked: pick, report"


def test_no_failure_report_without_failures() -> None:
    assert failure_report(result_of(ran("a", 1.0)), {}) == []


def test_failure_report_of_a_missing_input_has_its_message() -> None:
    missing = TaskResult("a", Status.FAILED, error="No rule to make target 'b', needed by 'a'.")
    report = text(failure_report(result_of(missing), {}))
    assert "  ✗ a: No rule to make target 'b', needed by 'a'." in report


def _boom() -> None:
    raise ValueError("bad input")


def _traceback_of(function) -> str:  # type: ignore[no-untyped-def]
    try:
        function()
    except ValueError:
        return traceback.format_exc()
    raise AssertionError("no exception")


def test_raised_at_names_the_line_in_the_tasks_file() -> None:
    task = Task(targets=("x",), recipe=_boom, location="test_report.py:1", source=__file__)
    place = raised_at(task, _traceback_of(_boom))
    assert place is not None
    assert place.startswith("test_report.py:")
    assert place.endswith(', in _boom: raise ValueError("bad input")')


def test_raised_at_is_none_when_the_tasks_file_is_not_in_the_traceback() -> None:
    task = Task(targets=("x",), recipe=_boom, location="tasks.py:3", source="/nowhere/tasks.py")
    assert raised_at(task, _traceback_of(_boom)) is None


@pytest.mark.parametrize(
    ("name", "file"),
    [
        ("train", "train.log"),
        ("model.pkl", "model.pkl.log"),
        ("out/lr0.1.json", "out_lr0.1.json-"),
        ("out_lr0.1.json", "out_lr0.1.json.log"),
        ("../x", "_x-"),
    ],
)
def test_log_names_are_safe_and_distinct(name: str, file: str) -> None:
    assert log_name(name).startswith(file)
    assert "/" not in log_name(name)
    assert log_name("a/b") != log_name("a_b")


def test_a_kept_log_has_the_full_output_and_how_it_ended(tmp_path: Path) -> None:
    task = Task.create("out/b.txt", recipe="sort a > out/b.txt")
    outcome = Outcome(False, "one\ntwo", returncode=1)
    path = Logs(str(tmp_path)).keep(task, TaskResult(task.name, Status.FAILED, None, 2.0, outcome))
    assert Path(path).parent == tmp_path / ".minimake" / "logs"
    content = Path(path).read_text()
    assert "# recipe: sort a > out/b.txt\n" in content
    assert "# ended: Error 1 after 2.0s\n" in content
    assert content.endswith("one\ntwo\n")


def test_json_document_has_counts_timings_and_every_task() -> None:
    stamps = (Stamp.file(1_704_103_201_000_000_000), Stamp.file(1_704_103_200_000_000_000))
    reason = Reason(ReasonKind.NEWER, "a.txt", "b", stamps)
    result = result_of(
        TaskResult("b", Status.RAN, reason, 4.0, Outcome(True)),
        failed("c", seconds=1.0, log="logs/c.log"),
        TaskResult("d", Status.SKIPPED, blocked_by="c"),
        seconds=2.5,
    )
    document = json.loads(json.dumps(json_document(result)))
    assert document["ok"] is False
    assert document["counts"] == {
        "ran": 1,
        "up_to_date": 0,
        "would_run": 0,
        "touched": 0,
        "failed": 1,
        "skipped": 1,
        "interrupted": 0,
        "no_recipe": 0,
    }
    assert (document["seconds"], document["task_seconds"], document["parallelism"]) == (2.5, 5, 2)
    b, c, d = document["tasks"]
    assert b["status"] == "ran"
    assert b["reason"] == f"{reason} ({reason.times})"
    assert b["reason"].startswith("'a.txt' is newer than 'b' (")
    assert (b["reason_kind"], c["reason_kind"], d["reason_kind"]) == ("newer", "missing", None)
    assert (c["status"], c["returncode"], c["log"]) == ("failed", 2, "logs/c.log")
    assert (d["status"], d["blocked_by"]) == ("skipped", "c")


def test_json_document_of_an_error() -> None:
    document = json_document(BuildResult({}, ()), error="Dependency cycle: a -> b -> a.")
    assert document["ok"] is False
    assert document["error"] == "Dependency cycle: a -> b -> a."
    assert document["tasks"] == []


def test_an_error_s_json_document_names_the_command_line_s_goals(tmp_path: Path) -> None:
    """An error before anything runs still says which goals were asked for, not []."""
    write_tasks(tmp_path, "from minimake import task\ntask('a', recipe='touch a')\n")
    done = cli("--json", "nosuch", "a", cwd=tmp_path)
    assert done.returncode == 2
    document = json.loads(done.stdout)
    assert document["ok"] is False
    assert document["goals"] == ["nosuch", "a"]
    assert "nosuch" in document["error"]
