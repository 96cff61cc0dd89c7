"""The stale decision: make's mtime rule as a pure function that returns a Reason, a value."""

from __future__ import annotations

import enum
import time
from collections.abc import Iterable, Mapping

import attrs

from minimake.disk import Stamp, StampKind
from minimake.signature import Signature, changes
from minimake.task import Task


class ReasonKind(enum.Enum):
    """Why a task must run; the value is the word ``--json`` gives as ``reason_kind``."""

    ALWAYS_MAKE = "always_make"  # -B
    PHONY = "phony"  # the task is phony
    INTERRUPTED = "interrupted"  # the journal: an earlier run stopped while its recipe ran
    IN_PROGRESS = "in-progress"  # the journal: the run holding the lock runs its recipe now
    MISSING = "missing"  # ``path``, a target, does not exist
    # ``path``, a dep, against ``target``, the task's oldest target:
    NEWER = "newer"  # its mtime is newer
    WHAT_IF = "what_if"  # -W names it: it is assumed new
    PHONY_DEP = "phony_dep"  # a phony task makes it
    WILL_BE_REMADE = "will_be_remade"  # under -n, -q, -t: its task would run
    REMADE = "remade"  # its task ran (or had nothing to run) and left it missing
    RECIPE_CHANGED = "recipe_changed"  # --rerun-triggers recipe: the recipe changed
    PARAMS_CHANGED = "params_changed"  # --rerun-triggers params: a declared param changed
    # ``path``, a dep of a task that allows failed deps, failed in this build: it runs to say so
    DEP_FAILED = "dep_failed"

    __hash__ = object.__hash__  # as StampKind's: looked up per stale task


@attrs.frozen
class Reason:
    """Why a task must run: its kind, the paths and times behind it; ``str()`` for people."""

    kind: ReasonKind
    path: str | None = None  # the target (MISSING) or the dep (the dep kinds) it names
    target: str | None = None  # the dep kinds: the oldest target the dep is judged against
    stamps: tuple[Stamp, Stamp] | None = None  # NEWER, WHAT_IF: the dep's and the target's
    pid: int | None = None  # INTERRUPTED, IN_PROGRESS: the other run's
    change: str | None = None  # RECIPE_CHANGED: what changed, in words

    def __str__(self) -> str:
        return _TEXTS[self.kind].format(
            path=self.path, target=self.target, pid=self.pid, change=self.change
        )

    @property
    def dep(self) -> str | None:
        """The dep that makes the task stale, when one does."""
        return self.path if self.kind in _BY_DEP else None

    @property
    def times(self) -> str | None:
        """The dep's time against the target's ("... > ..."), for a reason that compares them."""
        if self.stamps is None:
            return None
        newer, older = format_stamps(*self.stamps)
        return f"{newer} > {older}"

    def detailed(self) -> str:
        """The reason with the times behind it, when it has them (``-n``, ``--explain``)."""
        times = self.times
        return f"{self} ({times})" if times else str(self)


_TEXTS = {
    ReasonKind.ALWAYS_MAKE: "forced by -B",
    ReasonKind.PHONY: "phony",
    ReasonKind.INTERRUPTED: "was being written when an earlier run stopped (pid {pid})",
    ReasonKind.IN_PROGRESS: "is being built by the run in progress (pid {pid})",
    ReasonKind.MISSING: "'{path}' does not exist",
    ReasonKind.NEWER: "'{path}' is newer than '{target}'",
    ReasonKind.WHAT_IF: "'{path}' is newer than '{target}'",  # make says no more of -W
    ReasonKind.PHONY_DEP: "'{path}' is phony",
    ReasonKind.WILL_BE_REMADE: "'{path}' will be remade",
    ReasonKind.REMADE: "'{path}' was remade",
    ReasonKind.RECIPE_CHANGED: "{change}",
    ReasonKind.PARAMS_CHANGED: "{change}",
    ReasonKind.DEP_FAILED: "'{path}' failed",
}
# Read once per task: a member read through its Enum class costs a call of the metaclass's
# attribute hook (Python 3.11).
_MISSING = StampKind.MISSING
# What a dep that is newer than any file, and no file, makes its dependents stale by.
_DEP_KINDS = {
    StampKind.NEW: ReasonKind.WHAT_IF,
    StampKind.PHONY: ReasonKind.PHONY_DEP,
    StampKind.WILL_BE_REMADE: ReasonKind.WILL_BE_REMADE,
    StampKind.REMADE: ReasonKind.REMADE,
}
_BY_DEP = frozenset({ReasonKind.NEWER, ReasonKind.DEP_FAILED, *_DEP_KINDS.values()})


def why_stale(
    task: Task,
    targets: Mapping[str, Stamp],
    deps: Iterable[tuple[str, Stamp]],
    *,
    always_make: bool = False,
    interrupted: int | None = None,
    in_progress: bool = False,
) -> Reason | None:
    """Why ``task`` must run, or None when it is up to date (no Reason is made then).

    Args:
        targets: the Stamp of each of the task's targets, as the disk has it.
        deps: each normal dep (never order-only ones) with the Stamp its dependents see.
        interrupted: the pid of an earlier run that started the recipe and never saw it end
            (the journal's start marker): stale whatever the mtimes say.
        in_progress: that run is still going (a pretending run beside it), not stopped.
    """
    if always_make:
        return Reason(ReasonKind.ALWAYS_MAKE)
    if task.phony:
        return Reason(ReasonKind.PHONY)
    if interrupted is not None:
        kind = ReasonKind.IN_PROGRESS if in_progress else ReasonKind.INTERRUPTED
        return Reason(kind, pid=interrupted)
    for path in task.targets:
        if targets[path].kind is _MISSING:
            return Reason(ReasonKind.MISSING, path)
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
                return Reason(ReasonKind.NEWER, path, oldest_path, (stamp, oldest))
        elif stamp.kind in _DEP_KINDS:
            kind = _DEP_KINDS[stamp.kind]
            # Only a -W dep is shown with times, as a newer file is ("assumed new > ...").
            stamps = (stamp, oldest) if kind is ReasonKind.WHAT_IF else None
            return Reason(kind, path, oldest_path, stamps)
    return None


def why_changed(recorded: str | None, current: Signature | None) -> Reason | None:
    """Why a task whose recipe trigger is on must rerun although its files are up to date:
    what changed in its recipe since it last finished. No recorded signature is no reason."""
    old = Signature.loads(recorded)
    if old is None or current is None:
        return None
    change = changes(old, current)
    return Reason(ReasonKind.RECIPE_CHANGED, change=change) if change is not None else None


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
