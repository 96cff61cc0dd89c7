"""The stale decision, make's mtime rule as a pure function that returns a human reason."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping

from minimake.disk import Stamp, StampKind
from minimake.signature import Signature, changes
from minimake.task import Task


def why_stale(
    task: Task,
    targets: Mapping[str, Stamp],
    deps: Iterable[tuple[str, Stamp]],
    *,
    always_make: bool = False,
    interrupted: int | None = None,
) -> str | None:
    """Why ``task`` must run, or None when it is up to date.

    Args:
        targets: the Stamp of each of the task's targets, as the disk has it.
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
        if targets[path].kind is StampKind.MISSING:
            return f"'{path}' does not exist"
    # A multi-target task is judged by its oldest target, as make's grouped targets are.
    if len(task.targets) == 1:
        oldest_path = task.targets[0]
    else:
        oldest_path = min(task.targets, key=lambda path: targets[path].order)
    oldest = targets[oldest_path]
    at = oldest.mtime  # None: -W or -o names the target
    if at is None and oldest.newest:
        return None  # -W: no dep is newer (with -o, any dep that is there is)
    for path, stamp in deps:
        mtime = stamp.mtime
        if mtime is not None:
            if at is None or mtime > at:
                newer, older = format_stamps(stamp, oldest)
                return Reason(f"'{path}' is newer than '{oldest_path}'", f"{newer} > {older}")
        elif stamp.kind in _NOTES:
            return f"'{path}' {_NOTES[stamp.kind]}"
        elif stamp.kind is StampKind.NEW:
            newer, older = format_stamps(stamp, oldest)
            return Reason(f"'{path}' is newer than '{oldest_path}'", f"{newer} > {older}")
    return None


# What a dependent says of a dep that is newer than any file, by how it came to be.
_NOTES = {
    StampKind.PHONY: "is phony",
    StampKind.WILL_BE_REMADE: "will be remade",
    StampKind.REMADE: "was remade",
}


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


def format_mtime(mtime: int, digits: int = 3) -> str:
    """An mtime in ns as local time with ``digits`` decimals ("2024-05-01 12:00:01.250")."""
    seconds, nanoseconds = divmod(mtime, 1_000_000_000)
    text = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds))
    return f"{text}.{nanoseconds:09d}"[: len(text) + 1 + digits] if digits else text


def format_stamp(stamp: Stamp, digits: int = 3) -> str:
    """A stamp for people: its mtime, "assumed new" or "assumed very old"."""
    if stamp.mtime is not None:
        return format_mtime(stamp.mtime, digits)
    if stamp.newest:
        return "assumed new"
    if stamp.kind is StampKind.OLD:
        return "assumed very old"
    return "missing"


def format_stamps(newer: Stamp, older: Stamp) -> tuple[str, str]:
    """Two stamps at the least precision (ms, else ns) that still tells them apart."""
    pair = format_stamp(newer), format_stamp(older)
    if pair[0] == pair[1]:
        pair = format_stamp(newer, 9), format_stamp(older, 9)
    return pair
