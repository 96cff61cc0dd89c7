"""What a build returns: per task, what happened and why."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import TYPE_CHECKING, TypeAlias

import attrs

if TYPE_CHECKING:
    from minimake.execution.capture import Captured
    from minimake.record import Run
    from minimake.uptodate import Reason


# Environment variables given to one run of a recipe, as (name, value) pairs.
Environment: TypeAlias = tuple[tuple[str, str], ...]


@attrs.frozen
class Outcome:
    """How a recipe ended."""

    ok: bool
    output: str = ""  # the output as text, when it was captured on another machine
    returncode: int | None = None  # a shell line's exit status
    signal: int | None = None  # the signal that killed a shell line or the worker
    error: str | None = None  # "ValueError: bad input" for a Python recipe
    traceback: str | None = None
    seconds: float = 0.0
    crashed: bool = False  # the worker process died while running it
    timed_out: float | None = None  # the time limit, in seconds, that stopped it
    # Its failures were already told in its output, where they happened (-i's "(ignored)").
    reported: bool = False
    captured: Captured | None = None  # the output's files here
    # (output, mtime_ns or None) as the worker saw them just after the recipe: on a cluster
    # the client trusts these over its own, possibly stale, view of a shared file system.
    mtimes: tuple[tuple[str, int | None], ...] = ()
    worker: str | None = None  # the Dask worker that ran it (--timings draws a lane per worker)


class Status(enum.Enum):
    """What happened to one task in a build; the value is the word ``--json`` uses."""

    RAN = "ran"
    UP_TO_DATE = "up_to_date"
    WOULD_RUN = "would_run"  # -n and -q: stale, not run
    TOUCHED = "touched"  # -t
    FAILED = "failed"  # its recipe failed, an input was missing, or an interrupt stopped it
    # Not run: a failure it needs (blocked_by names it), or with blocked_by None, none: the
    # build stopped at another failure before starting it (make without -k).
    SKIPPED = "skipped"

    @property
    def label(self) -> str:
        """The status in words for people: "up to date", "would run"."""
        return self.value.replace("_", " ")


# The statuses of a task whose recipe this run carried out in its own way: ran it, or under -n
# counted it as one that would run, or under -t touched its outputs instead.
CARRIED_OUT = (Status.RAN, Status.WOULD_RUN, Status.TOUCHED)
# ...or at least started: a task with one of these and a recipe did work. make's "Nothing to be
# done", -q's answer and the summary's counts all ask this one question.
WORKED = (*CARRIED_OUT, Status.FAILED)

_FAILED = Status.FAILED  # read once per result: not through the Enum class each time

# The error of a task whose recipe Ctrl-C or SIGTERM stopped.
INTERRUPTED = "interrupted"


@attrs.frozen
class TaskResult:
    """One task's part in a build."""

    name: str
    status: Status
    reason: Reason | None = None  # why it was stale, for RAN / WOULD_RUN / TOUCHED / FAILED
    seconds: float = 0.0
    outcome: Outcome | None = None
    blocked_by: str | None = None  # the failed task that kept a SKIPPED task from running
    # Why it failed, the one place to read it: a failure that is not a recipe's (a missing
    # input under -k, INTERRUPTED), else the recipe's, in make's words ("Error 2",
    # "ValueError: bad input"); None unless FAILED.
    error: str | None = None
    has_recipe: bool = True  # False for a task with nothing to run (an alias like `all`)
    # A failed task's full output, kept under .minimake/logs; also a task's that needed
    # retries, with the output of every attempt.
    log: str | None = None
    tail: tuple[str, ...] = ()  # a failed task's last lines of output
    # How many times its recipe ran (or, under -n, would run) in this build: 0 for a task that
    # did not run, more than 1 for one that failed and was retried (``seconds`` and
    # ``outcome`` are then the last attempt's).
    attempts: int = 0
    # The names it held while its recipe ran, per resource limited by names: (("gpu", ("0",)),).
    held: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def __attrs_post_init__(self) -> None:
        if self.error is None and self.status is _FAILED:
            outcome = self.outcome
            if outcome is not None and not outcome.ok:
                from minimake.words import failure_text

                object.__setattr__(self, "error", failure_text(self))

    @property
    def interrupted(self) -> bool:
        """Whether an interrupt stopped this task's recipe (it counts as failed)."""
        return self.status is Status.FAILED and self.error == INTERRUPTED

    @property
    def worked(self) -> bool:
        """Whether its recipe ran, would run (-n), was touched (-t) or failed."""
        return self.has_recipe and self.status in WORKED


@attrs.frozen
class BuildResult:
    """The whole build: every selected task's result, in the order they were decided."""

    tasks: Mapping[str, TaskResult]
    goals: tuple[str, ...]
    seconds: float = 0.0
    interrupted: bool = False
    timings: Run | None = None  # when each task ran, when build(timings=...) asked for it

    @property
    def ok(self) -> bool:
        """No task failed or was skipped, and the build was not interrupted."""
        bad = (Status.FAILED, Status.SKIPPED)
        return not self.interrupted and all(r.status not in bad for r in self.tasks.values())

    def with_status(self, *statuses: Status) -> list[TaskResult]:
        """The results whose status is one of ``statuses``, in decision order."""
        return [r for r in self.tasks.values() if r.status in statuses]

    @property
    def stale(self) -> bool:
        """Whether anything ran or would run (``-q``'s question)."""
        return any(r.worked for r in self.tasks.values())
