"""The progress reporter, rendered into strings with a fake clock: the live display, plain lines,
reasons under -n, the end-of-run report, logs and JSON."""

from __future__ import annotations

import io
import json
import re
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import attrs
import pytest
from rich.console import Console

import minimake
from minimake import Task
from minimake.disk import Stamp
from minimake.events import NullReporter, Reporter, Tee
from minimake.logs import Logs
from minimake.result import BuildResult, Outcome, Status, TaskResult
from minimake.uptodate import Reason, ReasonKind
from minimake.view.progress import Board, ProgressReporter, progress_mode

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class Clock:
    """A clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def console(terminal: bool = False) -> Console:
    return Console(
        file=io.StringIO(),
        width=100,
        force_terminal=terminal,
        color_system="standard" if terminal else None,
        highlight=False,
        soft_wrap=True,
    )


def written(target: Console) -> str:
    return target.file.getvalue()  # type: ignore[attr-defined, no-any-return]


@pytest.fixture(autouse=True)
def _in_a_fresh_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Failure logs the tests keep or build go under tmp_path, not the checkout."""
    monkeypatch.chdir(tmp_path)


def reporter(mode: str = "plain", **options: object) -> tuple[ProgressReporter, Clock]:
    clock = Clock()
    terminal = mode == "live"
    err = console(terminal)
    out = options.pop("out", err if terminal else console())
    made = ProgressReporter(
        out,  # type: ignore[arg-type]
        err,
        mode=mode,
        clock=clock,
        auto_refresh=False,
        **options,  # type: ignore[arg-type]
    )
    return made, clock


A = Task.create("a.txt", recipe="make a")
B = Task.create("b.txt", deps=["a.txt"], recipe=["make b", "check b"])
C = Task.create("c.txt", recipe="make c")


# A reason for the tests where it is not shown.
R = Reason(ReasonKind.ALWAYS_MAKE)
X_MISSING = Reason(ReasonKind.MISSING, "x")


def ran(task: Task, seconds: float, output: str = "", reason: Reason = X_MISSING):  # type: ignore[no-untyped-def]
    return TaskResult(task.name, Status.RAN, reason, seconds, Outcome(True, output))


def failed(task: Task, seconds: float, output: str = "") -> TaskResult:
    return TaskResult(task.name, Status.FAILED, R, seconds, Outcome(False, output, returncode=2))


class TestBoard:
    def test_counts_running_tasks_and_times(self) -> None:
        clock = Clock()
        board = Board(clock)
        board.begin(total=4, jobs=2)
        board.start("a")
        clock.now += 2
        board.start("b")
        clock.now += 1
        shown = written_board(board)
        assert "0/4 done · 2 running · 0 failed · 3.0s elapsed · ETA ?" in shown
        assert re.search(r"▸ a\s+3\.0s", shown)
        assert re.search(r"▸ b\s+1\.0s", shown)

    def test_eta_from_the_mean_recipe_time(self) -> None:
        clock = Clock()
        board = Board(clock)
        board.begin(total=6, jobs=2)
        board.start("a")
        clock.now += 4
        board.finish("a", 4.0)
        board.record(TaskResult("a", Status.RAN, seconds=4.0))
        board.start("b")
        clock.now += 1
        # b has 3s left of the 4s mean; 4 tasks still wait; 2 jobs: (3 + 4 * 4) / 2.
        assert board.eta() == pytest.approx(9.5)
        assert "1/6 done · 1 running · 0 failed · 5.0s elapsed · ETA 9.5s" in written_board(board)

    def test_eta_from_the_durations_the_journal_recorded(self) -> None:
        clock = Clock()
        board = Board(clock)
        board.begin(total=4, jobs=2, expected={"a": 4.0, "b": 2.0, "c": 6.0})
        # Known before anything ran; d was never run and counts as the median, 4 s.
        assert board.eta() == pytest.approx((4 + 2 + 6 + 4) / 2)
        board.start("c")
        clock.now += 1
        board.record(TaskResult("b", Status.UP_TO_DATE))  # decided without running
        # c has 5 s left, a 4 s waits, d 4 s: 13 s of work on 2 jobs.
        assert board.eta() == pytest.approx(6.5)
        assert "1/4 done · 1 running · 0 failed · 1.0s elapsed · ETA 6.5s" in written_board(board)

    def test_failures_are_counted_and_many_running_tasks_summed_up(self) -> None:
        board = Board(Clock())
        board.begin(total=20, jobs=12)
        board.record(TaskResult("x", Status.FAILED))
        for index in range(11):
            board.start(f"t{index}")
        shown = written_board(board)
        assert "1/20 done · 11 running · 1 failed" in shown
        assert "and 3 more" in shown
        assert "t7" in shown
        assert "t8" not in shown


def written_board(board: Board) -> str:
    target = console()
    target.print(board.renderable())
    return written(target)


class TestPlain:
    def test_one_line_per_event_after_makes_lines(self) -> None:
        out = console()
        shown, _ = reporter("plain", out=out)
        shown.begin(3, 1)
        shown.started(A, Reason(ReasonKind.MISSING, "a.txt"), ["make a"])
        shown.finished(A, ran(A, 1.25, "made a\n"), ignored=False)
        shown.recorded(ran(A, 1.25, "made a\n"))
        shown.recorded(TaskResult("c.txt", Status.UP_TO_DATE))
        shown.started(B, Reason(ReasonKind.REMADE, "a.txt", "b.txt"), ["make b", "check b"])
        shown.finished(B, failed(B, 0.5, "oops\n"), ignored=False)
        shown.recorded(failed(B, 0.5, "oops\n"))
        assert written(out) == "make a\nmade a\nmake b\ncheck b\noops\n"
        lines = written(shown.err).splitlines()
        assert lines == [
            "[1/3] done a.txt (1.2s)",
            "minimake: *** [" + B.location + ": b.txt] Error 2",  # type: ignore[operator]
            "[3/3] FAILED b.txt (0.5s)",
        ]

    def test_skipped_and_ignored(self) -> None:
        shown, _ = reporter("plain")
        shown.begin(2, 1)
        ignored = TaskResult("a.txt", Status.RAN, R, 0.1, Outcome(False, returncode=1))
        shown.recorded(ignored)
        shown.recorded(TaskResult("b.txt", Status.SKIPPED, blocked_by="a.txt"))
        assert written(shown.err).splitlines() == [
            "[1/2] done a.txt (0.1s, error ignored)",
            "[2/2] skipped b.txt (blocked by a.txt)",
        ]

    def test_off_mode_prints_only_makes_lines(self) -> None:
        out = console()
        shown, _ = reporter("off", out=out)
        shown.begin(1, 1)
        shown.started(A, Reason(ReasonKind.MISSING, "a.txt"), ["make a"])
        shown.finished(A, failed(A, 1.0), ignored=False)
        shown.recorded(failed(A, 1.0))
        shown.summary(BuildResult({"a.txt": failed(A, 1.0)}, ("a.txt",), 1.0))
        assert written(out) == "make a\n"
        assert written(shown.err) == f"minimake: *** [{A.location}: a.txt] Error 2\n"

    def test_silent_prints_no_progress_and_no_summary(self) -> None:
        out = console()
        shown, _ = reporter("plain", out=out, silent=True)
        shown.begin(1, 1)
        shown.started(A, R, ["make a"])
        shown.finished(A, ran(A, 1.0), ignored=False)
        shown.recorded(ran(A, 1.0))
        shown.summary(BuildResult({"a.txt": ran(A, 1.0)}, ("a.txt",), 1.0))
        assert written(out) == ""
        assert written(shown.err) == ""

    def test_summary_and_failure_report_at_the_end(self, tmp_path: Path) -> None:
        shown, _ = reporter("plain")
        shown.begin(3, 2)
        shown.started(A, R, ["make a"])
        shown.started(B, R, ["make b"])
        # The scheduler keeps the failed task's log and last lines before it reports the task.
        failure = failed(A, 2.0, "first\nsecond\n")
        log = Logs(str(tmp_path)).keep(A, failure)
        failure = attrs.evolve(failure, log=log, tail=("first", "second"))
        shown.finished(A, failure, ignored=False)
        results = {
            "a.txt": failure,
            "b.txt": TaskResult("b.txt", Status.SKIPPED, blocked_by="a.txt"),
            "c.txt": ran(C, 3.0),
        }
        shown.summary(BuildResult(results, ("all",), 4.0))
        report = written(shown.err)
        assert "Summary: 1 ran, 0 up to date, 1 failed, 1 skipped in 4.0s\n" in report
        assert "Task time 5.0s, parallelism 1.2x\n" in report
        assert "  ✗ a.txt (" in report
        assert "    │ second\n" in report
        assert "    blocked: b.txt\n" in report
        log = tmp_path / ".minimake" / "logs" / "a.txt.log"
        assert log.read_text().endswith("first\nsecond\n")
        assert "first\nsecond\n" in written(shown.out)  # the output, replayed once
        assert f"full output: {log}" in report or "full output: .minimake/logs/a.txt.log" in report

    def test_null_build_has_no_summary(self) -> None:
        shown, _ = reporter("plain")
        up = TaskResult("a.txt", Status.UP_TO_DATE)
        shown.summary(BuildResult({"a.txt": up}, ("a.txt",), 0.1))
        assert written(shown.err) == ""


class TestDryRun:
    def test_reason_before_each_echo_then_counts(self) -> None:
        out = console()
        shown, _ = reporter("plain", out=out, dry_run=True)
        stamps = (Stamp.file(1_714_564_801_000_000_000), Stamp.file(1_714_564_800_000_000_000))
        reason = Reason(ReasonKind.NEWER, "a.in", "a.txt", stamps)
        shown.begin(2, 1)
        shown.started(A, reason, ["make a"])
        shown.finished(A, TaskResult("a.txt", Status.WOULD_RUN, reason), ignored=False)
        shown.recorded(TaskResult("a.txt", Status.WOULD_RUN, reason))
        shown.recorded(TaskResult("c.txt", Status.UP_TO_DATE))
        results = {
            "a.txt": TaskResult("a.txt", Status.WOULD_RUN, reason),
            "c.txt": TaskResult("c.txt", Status.UP_TO_DATE),
        }
        shown.summary(BuildResult(results, ("all",), 0.25))
        assert written(out) == "make a\n"
        assert written(shown.err).splitlines() == [
            f"would run a.txt: 'a.in' is newer than 'a.txt' ({reason.times})",
            "Summary: 1 would run, 1 up to date, 0 failed, 0 skipped in 0.2s",
        ]

    def test_off_mode_keeps_dry_run_bare(self) -> None:
        shown, _ = reporter("off", dry_run=True)
        shown.started(A, R, ["make a"])
        shown.summary(BuildResult({"a.txt": TaskResult("a.txt", Status.WOULD_RUN)}, (), 0.1))
        assert written(shown.err) == ""

    def test_verbose_gives_reasons_in_a_real_run(self) -> None:
        shown, _ = reporter("off", verbose=True)
        shown.started(A, Reason(ReasonKind.MISSING, "a.txt"), ["make a"])
        assert written(shown.err) == "run a.txt: 'a.txt' does not exist\n"


class TestLive:
    def test_display_appears_and_blocks_scroll_above_it(self) -> None:
        shown, clock = reporter("live")
        shown.begin(3, 2)
        shown.started(A, R, ["make a"])
        shown.started(C, R, ["make c"])
        clock.now += 1.5
        shown.finished(A, ran(A, 1.5, "a1\na2\n"), ignored=False)
        clock.now += 0.5  # the display is redrawn at most every REDRAW_EVERY seconds
        shown.recorded(ran(A, 1.5))
        raw = written(shown.err)
        text = ANSI.sub("", raw).replace("\r", "")
        assert "1/3 done · 1 running · 0 failed · 2.0s elapsed" in text
        assert "▸ c.txt" in text
        assert "✓ a.txt  1.5s\na1\na2\n" in text  # one block: header, then the output
        assert "\x1b[?25l" in raw  # the cursor is hidden while the display is up

    def test_summary_takes_the_display_down_and_restores_the_cursor(self) -> None:
        shown, _ = reporter("live")
        shown.begin(1, 1)
        shown.started(A, R, ["make a"])
        shown.finished(A, ran(A, 1.0), ignored=False)
        shown.recorded(ran(A, 1.0))
        shown.summary(BuildResult({"a.txt": ran(A, 1.0)}, ("a.txt",), 1.0))
        raw = written(shown.err)
        assert raw.rfind("\x1b[?25h") > raw.rfind("done ·")
        assert "Summary: 1 ran" in ANSI.sub("", raw)
        shown.close()  # a second close is harmless

    def test_failed_task_block_holds_output_and_error(self, tmp_path: Path) -> None:
        shown, _ = reporter("live")
        shown.begin(1, 1)
        shown.started(A, R, ["make a"])
        shown.finished(A, failed(A, 1.0, "boom\n"), ignored=False)
        text = ANSI.sub("", written(shown.err)).replace("\r", "")
        assert f"✗ a.txt  1.0s\nboom\nminimake: *** [{A.location}: a.txt] Error 2\n" in text
        shown.close()

    def test_no_display_for_a_dry_run_or_when_silent(self) -> None:
        for options in ({"dry_run": True}, {"silent": True}, {"pretend": True}):
            shown, _ = reporter("live", **options)
            shown.started(A, R, ["make a"])
            assert "done ·" not in written(shown.err)


class TestJson:
    def test_document_on_stdout_and_log_lines_elsewhere(self) -> None:
        data, err = console(), console()
        shown = ProgressReporter(err, err, stdout=data, as_json=True, mode="off")
        shown.started(A, R, ["make a"])
        shown.finished(A, ran(A, 1.0, "made\n"), ignored=False)
        shown.summary(BuildResult({"a.txt": ran(A, 1.0)}, ("a.txt",), 1.0))
        document = json.loads(written(data))
        assert document["tasks"][0]["name"] == "a.txt"
        assert document["counts"]["ran"] == 1
        assert written(err) == "make a\nmade\n"

    def test_fatal_error_is_a_document_too(self) -> None:
        from minimake.errors import CycleError

        data, err = console(), console()
        shown = ProgressReporter(err, err, stdout=data, as_json=True)
        shown.fatal(CycleError(["a", "b", "a"]))
        assert json.loads(written(data))["error"] == "Dependency cycle: a -> b -> a."
        assert "minimake: *** Dependency cycle" in written(err)


def test_a_real_build_through_the_reporter(tmp_path: Path) -> None:
    """The engine calls begin, recorded and summary: counts and the summary come out right."""
    tasks = [
        Task.create("a", recipe="echo made a > a"),
        Task.create("b", deps=["a"], recipe="exit 4"),
        Task.create("c", deps=["b"], recipe="touch c"),
        Task.create("all", deps=["c", "a"], phony=True),
    ]
    out = console()
    shown, _ = reporter("plain", out=out)
    with ThreadPoolExecutor(2) as pool:
        result = minimake.build(
            tasks, ["all"], root=tmp_path, reporter=shown, executor=pool, keep_going=True
        )
    assert not result.ok
    err = written(shown.err)
    assert shown.board.decided == 3  # the counter counts tasks with a recipe: not `all`
    assert re.search(r"^\[1/3\] done a \(", err, re.M)
    assert re.search(r"^\[2/3\] FAILED b \(", err, re.M)
    assert "[3/3] skipped c (blocked by b)" in err
    assert "Summary: 1 ran, 0 up to date, 1 failed, 2 skipped in" in err
    assert "    blocked: c, all" in err
    assert (tmp_path / ".minimake" / "logs" / "b.log").exists()


class Seconds(float):
    """A recipe's seconds whose additions are Python calls: a sum over every finished task's
    seconds then shows in a call count, as a loop in Python would."""

    def __add__(self, other: object) -> Seconds:
        return Seconds(float(self) + float(other))  # type: ignore[arg-type]

    __radd__ = __add__


def calls(action: Callable[[], object]) -> int:
    """How many Python and C functions ``action`` calls: a count, not a time."""
    count = 0

    def profile(frame: object, event: str, arg: object) -> None:
        nonlocal count
        count += event in ("call", "c_call")

    sys.setprofile(profile)
    try:
        action()
    finally:
        sys.setprofile(None)
    return count


TASKS = [Task.create(f"out/{index}", recipe=f"touch out/{index}") for index in range(8)]
WINDOW = 40  # tasks whose events are counted, the last of the build


class TestCostPerEvent:
    """The reporter does the same work per event at the 100,000th task as at the 100th."""

    @staticmethod
    def per_event(mode: str, total: int) -> float:
        shown, clock = reporter(mode)
        shown.begin(total, 4)
        if mode == "live":
            shown.started(TASKS[0], R, ["touch out/0"])  # the display is up from now on
        board = shown.board
        for index in range(total - WINDOW):
            # What every earlier task did to the reporter's state; through the public calls
            # in plain mode, while a live display printing 100,000 blocks would take minutes.
            task = TASKS[index % len(TASKS)]
            result = ran(task, Seconds(0.5))
            if mode == "live":
                board.start(task.name)
                board.finish(task.name, result.seconds)
            else:
                shown.started(task, R, [f"touch {task.name}"])
                shown.finished(task, result, ignored=False)
            shown.recorded(result)

        def last_tasks() -> None:
            for index in range(total - WINDOW, total):
                task = TASKS[index % len(TASKS)]
                clock.now += 0.5  # each task a redraw of the display (every REDRAW_EVERY)
                result = ran(task, Seconds(0.5))
                shown.started(task, R, [f"touch {task.name}"])
                shown.finished(task, result, ignored=False)
                shown.recorded(result)

        counted = calls(last_tasks)
        shown.close()
        return counted / (3 * WINDOW)

    @pytest.mark.parametrize("mode", ["plain", "live"])
    def test_an_event_costs_the_same_at_100000_tasks_as_at_100(self, mode: str) -> None:
        small, large = self.per_event(mode, 100), self.per_event(mode, 100_000)
        assert small > 10  # the count sees the reporter's work
        # Wider numbers on the display ("99961/100000") cost a few calls more, not thousands.
        assert large <= small * 1.05, (small, large)

    def test_the_eta_reads_no_list_of_finished_tasks(self) -> None:
        def eta_after(finished: int) -> int:
            board = Board(Clock())
            board.begin(total=100_000, jobs=4)
            for index in range(finished):
                board.finish(f"t{index}", Seconds(1.0))
            return calls(board.eta)

        assert eta_after(10) == eta_after(99_990)


EVENTS = sorted(name for name in vars(Reporter) if not name.startswith("_"))


class TestComposition:
    def test_the_protocol_holds_only_what_the_engine_says(self) -> None:
        assert "summary" in EVENTS
        # What the command line says itself is no event: the engine could not call it.
        assert not {"fatal", "note", "show", "close"} & set(EVENTS)

    @pytest.mark.parametrize("made", [NullReporter, Tee])
    def test_every_event_is_its_own(self, made: type) -> None:
        """NullReporter answers every event, and a Tee passes each on: none is left to a base
        class that would drop it."""
        assert [name for name in EVENTS if name not in vars(made)] == []

    def test_the_command_line_reporter_is_a_tee_of_parts(self) -> None:
        shown, _ = reporter("plain", as_json=True)
        kinds = [type(part).__name__ for part in shown.parts]
        assert kinds == ["ProgressDisplay", "ConsoleReporter", "RunReport", "JsonReport"]
        live, _ = reporter("live")
        assert [type(part).__name__ for part in live.parts][:2] == ["ProgressDisplay", "LiveLines"]
        off, _ = reporter("off")
        assert [type(part).__name__ for part in off.parts] == ["ProgressDisplay", "ConsoleReporter"]


@pytest.mark.parametrize(
    ("asked", "terminal", "silent", "pretend", "mode"),
    [
        ("auto", True, False, False, "live"),
        ("auto", False, False, False, "plain"),
        ("auto", True, True, False, "off"),
        ("auto", True, False, True, "plain"),
        ("live", False, False, False, "live"),
        ("live", True, False, True, "plain"),
        ("plain", True, False, False, "plain"),
        ("off", True, False, False, "off"),
        ("plain", False, True, False, "off"),
    ],
)
def test_progress_mode_is_decided_in_one_place(
    asked: str, terminal: bool, silent: bool, pretend: bool, mode: str
) -> None:
    assert progress_mode(asked, terminal=terminal, silent=silent, pretend=pretend) == mode
