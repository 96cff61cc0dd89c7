"""The end of a run: counts and timings, the failure report and the JSON document, and the
reporter parts that print them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

from minimake.events import NullReporter
from minimake.procfs import cores as available_cores
from minimake.result import CARRIED_OUT, WORKED, BuildResult, Status, TaskResult
from minimake.view.ui import is_plain, write_line
from minimake.words import duration, failure_text, raised_at, shown

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

    from minimake.errors import MinimakeError
    from minimake.task import Task

SLOWEST = 3  # tasks named in the summary's "slowest" line


@attrs.frozen
class Counts:
    """How many tasks ended each way, every task counted once.

    A task with nothing to run (an alias like `all`) is counted under ``no_recipe``, unless it
    failed or was skipped; a recipe an interrupt stopped is ``interrupted``, not ``failed``.
    """

    ran: int = 0
    up_to_date: int = 0
    would_run: int = 0
    touched: int = 0
    failed: int = 0
    skipped: int = 0
    interrupted: int = 0
    no_recipe: int = 0

    @classmethod
    def of(cls, result: BuildResult) -> Counts:
        tally = dict.fromkeys(Status, 0)
        interrupted = no_recipe = 0
        for task in result.tasks.values():
            if task.interrupted:
                interrupted += 1
            elif task.has_recipe or task.status in (Status.FAILED, Status.SKIPPED):
                tally[task.status] += 1
            else:
                no_recipe += 1
        counted = {status.value: count for status, count in tally.items()}
        return cls(**counted, interrupted=interrupted, no_recipe=no_recipe)

    def count(self, status: Status) -> int:
        """How many tasks ended with ``status`` (each field is named by its status's value)."""
        tasks: int = getattr(self, status.value)
        return tasks

    @property
    def worked(self) -> int:
        """Tasks whose recipe ran, would run, was touched or failed (an interrupt included)."""
        return sum(self.count(status) for status in WORKED) + self.interrupted

    def describe(self, done: str = "ran") -> str:
        """The counts as "3 ran, 7 up to date, 1 failed, 2 skipped".

        ``done`` names this run's kind of work ("ran", "would run" for -n, "touched" for -t);
        it is always shown, first; the other kinds only when not zero.
        """
        worked = {status.label: self.count(status) for status in CARRIED_OUT}
        parts = [(worked.pop(done), done)] + [(n, label) for label, n in worked.items() if n]
        parts += [(self.up_to_date, "up to date"), (self.failed, "failed")]
        if self.interrupted:
            parts.append((self.interrupted, "interrupted"))
        parts.append((self.skipped, "skipped"))
        return ", ".join(f"{count} {label}" for count, label in parts)


def task_seconds(result: BuildResult) -> float:
    """The time all recipes took together (the work, whatever the parallelism)."""
    return sum(task.seconds for task in result.tasks.values())


def retried(result: BuildResult) -> list[TaskResult]:
    """The tasks whose recipe failed at least once and ran again, whatever came of it."""
    return [task for task in result.tasks.values() if task.attempts > 1]


def slowest(result: BuildResult, count: int = SLOWEST) -> list[TaskResult]:
    """The ``count`` recipes that took longest, slowest first."""
    timed = [task for task in result.tasks.values() if task.seconds > 0]
    return sorted(timed, key=lambda task: -task.seconds)[:count]


@attrs.frozen
class Line:
    """One line of the report, as (text, style) spans: written as plain text off a terminal,
    where importing rich would cost more than the build it reports; a rich Text on one."""

    spans: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, text: str, style: str = "") -> Line:
        return cls(((text, style),))

    def __add__(self, other: Line) -> Line:
        return Line(self.spans + other.spans)

    @property
    def plain(self) -> str:
        return "".join(text for text, _ in self.spans)

    def __rich__(self) -> Text:
        from rich.text import Text

        return Text.assemble(*self.spans)


def summary_lines(result: BuildResult, done: str = "ran") -> list[Line]:
    """The closing lines: counts and wall time, then the work, the parallelism and the slowest.

    ``done`` is this run's kind of work, as Counts.describe takes it.
    """
    counts = Counts.of(result)
    head = Line.of("Interrupted: " if result.interrupted else "Summary: ", "bold")
    head += Line.of(counts.describe(done), "red" if counts.failed else "")
    head += Line.of(f" in {duration(result.seconds)}")
    again = len(retried(result))
    if again:  # besides the counts: a retried task also ran or failed
        head += Line.of(f" ({again} {'task' if again == 1 else 'tasks'} needed retries)", "yellow")
    lines = [head]
    work = task_seconds(result)
    if counts.ran or counts.failed:
        parallelism = work / result.seconds if result.seconds > 0 else 1.0
        said = f"Task time {duration(work)}, parallelism {parallelism:.1f}x"
        cores = available_cores()
        if parallelism > cores + 0.05:
            # Recipes that share too few cores each take longer: their time counts the waits.
            plural = "core" if cores == 1 else "cores"
            said += f" (more than this machine's {cores} {plural}: recipes waited for them)"
        lines.append(Line.of(said, "dim"))
        top = slowest(result)
        if len(top) > 1:
            named = ", ".join(f"{task.name} ({duration(task.seconds)})" for task in top)
            lines.append(Line.of(f"Slowest: {named}", "dim"))
    return lines


def failure_report(result: BuildResult, tasks: Mapping[str, Task]) -> list[Line]:
    """Each failed task: how it ended, its last lines, its log file and the tasks it blocked;
    then the recipes an interrupt stopped, and the tasks never started because the build
    stopped at a failure they do not depend on.

    ``tasks`` maps the failed tasks' names to their Task (for the tasks.py line).
    """
    failed = [task for task in result.with_status(Status.FAILED) if not task.interrupted]
    stopped = [task.name for task in result.with_status(Status.FAILED) if task.interrupted]
    blocked: dict[str, list[str]] = {}
    not_started = []
    for task in result.with_status(Status.SKIPPED):
        if task.blocked_by is not None:
            blocked.setdefault(task.blocked_by, []).append(task.name)
        else:
            not_started.append(task.name)
    lines = _failures(failed, blocked, tasks) if failed else []
    if stopped:
        lines.append(Line.of(f"Stopped by the interrupt: {_names(stopped)}", "bold red"))
    if not_started and not result.interrupted:
        lines.append(Line.of(f"Not started, the build stopped: {_names(not_started)}", "yellow"))
    return lines


def _failures(
    failed: list[TaskResult],
    blocked: Mapping[str, list[str]],
    tasks: Mapping[str, Task],
) -> list[Line]:
    noun = "task" if len(failed) == 1 else "tasks"
    lines = [Line.of(f"Failed: {len(failed)} {noun}", "bold red")]
    for failure in failed:
        declared = tasks.get(failure.name)
        line = Line.of("  ✗ ", "red") + Line.of(failure.name, "bold")
        if declared is not None and declared.location:
            line += Line.of(f" ({declared.location})", "dim")
        line += Line.of(f": {_ended(failure, declared)}")
        lines.append(line)
        for text in failure.tail:
            lines.append(Line.of(f"    │ {text}", "dim"))
        if failure.log is not None:
            lines.append(Line.of(f"    full output: {shown(failure.log)}"))
        if failure.name in blocked:
            lines.append(Line.of(f"    blocked: {_names(blocked[failure.name])}", "yellow"))
    return lines


def _ended(failure: TaskResult, declared: Task | None) -> str:
    text = failure_text(failure)
    if failure.attempts > 1:
        text += f" (after {failure.attempts} attempts)"
    outcome = failure.outcome
    if outcome is not None and outcome.traceback and declared is not None:
        place = raised_at(declared, outcome.traceback)
        if place:
            text += f" (raised at {place})"
    return text


def _names(names: list[str], shown: int = 8) -> str:
    text = ", ".join(names[:shown])
    if len(names) > shown:
        text += f" and {len(names) - shown} more"
    return text


def json_document(result: BuildResult, error: str | None = None) -> dict[str, Any]:
    """The run as one JSON-ready value: ok, counts, timings and every task in decision order."""
    counts = Counts.of(result)
    work = task_seconds(result)
    document: dict[str, Any] = {
        "ok": result.ok and error is None,
        "interrupted": result.interrupted,
        "goals": list(result.goals),
        "counts": attrs.asdict(counts),
        "seconds": round(result.seconds, 6),
        "task_seconds": round(work, 6),
        "parallelism": round(work / result.seconds, 3) if result.seconds > 0 else None,
        "retried": len(retried(result)),
        "tasks": [_json_task(task) for task in result.tasks.values()],
    }
    if error is not None:
        document["error"] = error
    return document


def _json_task(task: TaskResult) -> dict[str, Any]:
    outcome = task.outcome
    return {
        "name": task.name,
        "status": task.status.name.lower(),
        "reason": task.reason.detailed() if task.reason else None,
        "reason_kind": task.reason.kind.value if task.reason else None,
        "seconds": round(task.seconds, 6),
        "has_recipe": task.has_recipe,
        "returncode": outcome.returncode if outcome else None,
        "signal": outcome.signal if outcome else None,
        "timed_out": outcome.timed_out if outcome else None,  # the limit that stopped it
        "error": (outcome.error if outcome else None) or task.error,
        "blocked_by": task.blocked_by,
        # The names it held while it ran (--resource gpu=0,1): {"gpu": ["1"]}.
        "held": {name: list(names) for name, names in task.held},
        "log": shown(task.log) if task.log else None,
        "attempts": task.attempts,
    }


class RunReport(NullReporter):
    """The run report part: at the summary, on ``err``, the counts and timings, then after
    failures the failure report. ``work`` is this run's kind of work: Status.RAN,
    Status.WOULD_RUN (-n) or Status.TOUCHED (-t)."""

    def __init__(self, err: Console, work: Status = Status.RAN) -> None:
        self.err, self.work = err, work
        self._failed: dict[str, Task] = {}  # for the tasks.py line of each failure

    def finished(self, task: Task, result: TaskResult, ignored: bool) -> None:
        if result.outcome is not None and not result.outcome.ok:
            self._failed[task.name] = task

    def summary(self, result: BuildResult) -> None:
        counts = Counts.of(result)
        dry_run = self.work is Status.WOULD_RUN
        if not (counts.worked or counts.skipped or result.interrupted or dry_run):
            return  # a null build: make's "up to date" line says it all
        plain = is_plain(self.err)
        lines = summary_lines(result, self.work.label) + failure_report(result, self._failed)
        for line in lines:
            write_line(self.err, line.plain if plain else line.__rich__(), plain)


class JsonReport(NullReporter):
    """The ``--json`` part: the run as one JSON document on ``stdout``, at the summary; or one
    that names the error, when the command line stops with a fatal error first. Sent once."""

    def __init__(self, stdout: Console, goals: tuple[str, ...] = ()) -> None:
        self.stdout = stdout
        self.goals = goals  # the command line's, for a document that names an error
        self.sent = False

    def summary(self, result: BuildResult) -> None:
        self._send(json_document(result))

    def failed(self, error: MinimakeError) -> None:
        """The command line stopped with ``error``: a document with no tasks that names it."""
        self._send(json_document(BuildResult({}, self.goals), error=str(error)))

    def _send(self, document: dict[str, Any]) -> None:
        if self.sent:
            return
        self.sent = True
        # Straight to the file: rich would split a 100,000-task document into a Text per line
        # (seconds of work) to print it unchanged, and no display is up by now.
        self.stdout.file.write(json.dumps(document, indent=2) + "\n")
        self.stdout.file.flush()
