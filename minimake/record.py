"""A recorded build: when each task ran and how it ended, the value ``BuildResult.timings``
carries (the recorder in ``minimake.view`` takes it from the reporter events; the timing page
and the trace read it)."""

from __future__ import annotations

from datetime import datetime

import attrs

from minimake.result import Status


@attrs.frozen
class Span:
    """One task in a recorded run; times are seconds after the build began.

    A task that started no recipe (up to date, skipped, an alias) has ``start == end``, the
    moment it was decided. ``ready`` is when the last of its deps in this build was decided:
    from then on only ``-j`` (or a resource) kept it from starting.
    """

    name: str
    status: Status
    start: float
    end: float
    ready: float = 0.0
    ran: bool = False  # a recipe was started: the task has a bar
    has_recipe: bool = True  # False for an alias, which make's counts leave out
    reason: str | None = None
    returncode: int | None = None
    signal: int | None = None
    error: str | None = None
    worker: str | None = None  # the Dask worker that ran it
    # The names it held, per resource limited by names (--resource gpu=0,1): (("gpu", ("1",)),).
    held: tuple[tuple[str, tuple[str, ...]], ...] = ()
    deps: tuple[str, ...] = ()  # the tasks of this build it waited for

    @property
    def seconds(self) -> float:
        return self.end - self.start

    @property
    def waited(self) -> float:
        """How long it was ready but not started."""
        return max(self.start - self.ready, 0.0) if self.ran else 0.0

    @property
    def failed(self) -> bool:
        """Its recipe failed, whether or not -i ignored it."""
        return self.status is Status.FAILED or self.returncode not in (None, 0) or bool(self.error)


@attrs.frozen
class Run:
    """A recorded build: what it was asked and every selected task's span, in decision order."""

    goals: tuple[str, ...]
    jobs: int
    executor: str
    began: datetime  # the wall-clock moment the build began, for the page and its file name
    seconds: float  # wall time, from the first decision to the summary
    spans: tuple[Span, ...]
    interrupted: bool = False

    @property
    def task_seconds(self) -> float:
        return sum(span.seconds for span in self.spans if span.ran)

    def by_name(self) -> dict[str, Span]:
        return {span.name: span for span in self.spans}
