"""The stale decision, make's mtime rule as a pure function that returns a human reason."""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping

import attrs

from minimake.signature import Signature, changes
from minimake.task import Task


@attrs.frozen
class Stamp:
    """What a dependent sees of one file: its mtime in ns, or ±inf with why.

    ``math.inf`` means "treat as brand new" (a phony dep, a dep that was or will be remade and is
    missing or assumed new, ``-W``); ``-math.inf`` means "very old" (``-o``).
    """

    mtime: float | None
    note: str | None = None  # "is phony", "will be remade", "is assumed new (-W)", ...

    @classmethod
    def newest(cls, note: str) -> Stamp:
        return cls(math.inf, note)


def why_stale(
    task: Task,
    targets: Mapping[str, float | None],
    deps: Iterable[tuple[str, Stamp]],
    *,
    always_make: bool = False,
    interrupted: int | None = None,
) -> str | None:
    """Why ``task`` must run, or None when it is up to date.

    Args:
        targets: the current mtime of each of the task's targets (None when missing).
        deps: each normal dep (never order-only ones) with the Stamp its dependents see.
        interrupted: the pid of an earlier run that started the recipe and never saw it end
            (the journal's start marker): stale whatever the mtimes say.
    """
    if always_make:
        return "forced by -B"
    if task.phony:
        return "phony"
    if interrupted is not None:
        return f"was being written when an earlier run stopped (pid {interrupted})"
    for path in task.targets:
        if targets.get(path) is None:
            return f"'{path}' does not exist"
    # A multi-target task is judged by its oldest target, as make's grouped targets are.
    oldest_path = min(task.targets, key=lambda p: targets[p])  # type: ignore[arg-type, return-value]
    oldest = targets[oldest_path]
    assert oldest is not None
    for path, stamp in deps:
        if stamp.mtime is not None and stamp.mtime > oldest:
            if stamp.note:
                return f"'{path}' {stamp.note}"
            newer, older = format_mtimes(stamp.mtime, oldest)
            return Reason(f"'{path}' is newer than '{oldest_path}'", f"{newer} > {older}")
    return None


def why_changed(recorded: str | None, current: Signature | None) -> str | None:
    """Why a task whose recipe trigger is on must rerun although its files are up to date:
    what changed in its recipe since it last finished. No recorded signature is no reason."""
    old = Signature.loads(recorded)
    if old is None or current is None:
        return None
    return changes(old, current)


class Reason(str):
    """A stale reason that also carries the mtimes behind it, for people (``-n``, ``--explain``).

    It equals its plain text ("'d' is newer than 't'"), so the reason stays a short, stable
    value; ``detailed`` adds the times.
    """

    times: str | None

    def __new__(cls, text: str, times: str | None = None) -> Reason:
        reason = super().__new__(cls, text)
        reason.times = times
        return reason


def detailed(reason: str) -> str:
    """``reason`` with the mtimes behind it, when it has them."""
    times = getattr(reason, "times", None)
    return f"{reason} ({times})" if times else str(reason)


def format_mtime(mtime: float, digits: int = 3) -> str:
    """An mtime in ns as local time with ``digits`` decimals ("2024-05-01 12:00:01.250")."""
    if mtime == math.inf:
        return "assumed new"
    if mtime == -math.inf:
        return "assumed very old"
    seconds, nanoseconds = divmod(int(mtime), 1_000_000_000)
    text = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds))
    return f"{text}.{nanoseconds:09d}"[: len(text) + 1 + digits] if digits else text


def format_mtimes(newer: float, older: float) -> tuple[str, str]:
    """Two mtimes at the least precision (ms, else ns) that still tells them apart."""
    pair = format_mtime(newer), format_mtime(older)
    if pair[0] == pair[1]:
        pair = format_mtime(newer, 9), format_mtime(older, 9)
    return pair
