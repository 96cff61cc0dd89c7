"""The file system as the engine sees it: one stat per file per run, -W and -o applied."""

from __future__ import annotations

import contextlib
import enum
import os
import time
import weakref
from collections.abc import Callable, Iterable

import attrs


class StampKind(enum.Enum):
    """What a dependent sees of a file: its mtime, or a state that no mtime stands for."""

    FILE = "file"  # it exists: compare its mtime
    MISSING = "missing"  # it does not exist: never newer than anything
    OLD = "old"  # make's -o: older than any file
    NEW = "new"  # make's -W: newer than any file
    # The scheduler's, for the targets of a task that ran or would run, newer than any file:
    PHONY = "phony"  # the target of a phony task
    WILL_BE_REMADE = "will_be_remade"  # under -n, -q, -t: its task would run
    REMADE = "remade"  # its task ran (or had nothing to run) and left it missing

    # Members are singletons: hash them by identity, in C. Enum's own hash is a Python call,
    # paid on each lookup by kind, once per task of a 100,000-task -n.
    __hash__ = object.__hash__


@attrs.frozen
class Stamp:
    """What a dependent sees of one file: a kind, and for a FILE its mtime in ns."""

    kind: StampKind
    mtime: int | None = None  # set for a FILE only, so `mtime is not None` means "compare it"

    @classmethod
    def file(cls, mtime: int) -> Stamp:
        """The stamp of a file that exists, modified at ``mtime`` (ns)."""
        return cls(StampKind.FILE, mtime)

    @property
    def newest(self) -> bool:
        """Whether it is newer than any file (-W, a phony target, a target remade)."""
        return self.kind in _NEWEST

    @property
    def order(self) -> tuple[int, int]:
        """A sort key, oldest first: missing and -o, then files by mtime, then the newest."""
        if self.mtime is not None:
            return (1, self.mtime)
        return (2, 0) if self.kind in _NEWEST else (0, 0)


_NEWEST = frozenset({StampKind.NEW, StampKind.PHONY, StampKind.WILL_BE_REMADE, StampKind.REMADE})
# Looked up once per stat of a 100,000-file build: a member read through its Enum class
# costs a call of the metaclass's attribute hook (Python 3.11).
_FILE = StampKind.FILE
_MISSING = StampKind.MISSING
# One value for each kind without an mtime.
MISSING = Stamp(StampKind.MISSING)
ASSUMED_OLD = Stamp(StampKind.OLD)
ASSUMED_NEW = Stamp(StampKind.NEW)
PHONY = Stamp(StampKind.PHONY)
WILL_BE_REMADE = Stamp(StampKind.WILL_BE_REMADE)
REMADE = Stamp(StampKind.REMADE)


class Disk:
    """Cached stamps of paths relative to ``root``; the seam tests replace.

    ``what_if`` paths read as brand new (make's ``-W``), ``old`` paths as very old (``-o``).
    """

    def __init__(
        self,
        root: str,
        what_if: Iterable[str] = (),
        old: Iterable[str] = (),
        warn: Callable[[str], None] | None = None,
    ) -> None:
        self.root = root
        # make's warnings about what it stats (a stat error, a time in the future), and
        # whether a time in the future was seen (make's "Clock skew detected" at the end).
        self._warn = warn or (lambda text: None)
        self._warned: set[str] = set()
        self.skewed = False
        self._prefix = os.path.join(root, "")
        # Names are stat'ed relative to the folder, as make stats them relative to its working
        # folder: the kernel walks the name alone, not the folder's path again for each file
        # (a tenth of a 100,000-file null build's stats). A folder that cannot be opened is
        # reached by its path.
        try:
            self._folder: int | None = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            self._folder = None
        else:
            weakref.finalize(self, os.close, self._folder)
        self._overrides = {os.path.normpath(p): ASSUMED_NEW for p in what_if}
        self._overrides.update({os.path.normpath(p): ASSUMED_OLD for p in old})
        # Whether -o named anything: without, no task is assumed old, and none is asked about.
        self.assumes_old = ASSUMED_OLD in self._overrides.values()
        self._cache: dict[str, Stamp] = {}

    def path(self, name: str) -> str:
        """The absolute path of ``name``."""
        # os.path.join's result, without its cost on each of a 100,000-file build's stats.
        return name if name.startswith("/") else self._prefix + name

    def stamp(self, name: str) -> Stamp:
        """What ``name`` looks like: its mtime, missing, or assumed new (-W) or old (-o)."""
        stamp = self._cache.get(name)
        if stamp is not None:
            return stamp
        # Without -W or -o there is nothing to look up: skip normalising every name.
        stamp = self._overrides.get(os.path.normpath(name)) if self._overrides else None
        # -W makes a file new, never makes one exist; -o makes even a missing file old (make's).
        if stamp is None or (stamp is ASSUMED_NEW and not os.path.lexists(self.path(name))):
            mtime = self._stat(name)
            stamp = Stamp(_FILE, mtime) if mtime is not None else MISSING
        self._cache[name] = stamp
        return stamp

    def exists(self, name: str) -> bool:
        """Whether ``name`` exists, or counts as existing (-o)."""
        return self.stamp(name).kind is not _MISSING

    def assumed_old(self, names: Iterable[str]) -> bool:
        """Whether ``-o`` named every one of ``names`` (and there is one): a task writing them
        is not remade, and what it needs is not made for its sake."""
        if not self.assumes_old:
            return False
        names = list(names)
        overrides = self._overrides
        return bool(names) and all(overrides.get(os.path.normpath(n)) is ASSUMED_OLD for n in names)

    def _stat(self, name: str) -> int | None:
        try:
            if self._folder is not None:  # an absolute name is looked up as it is
                mtime = os.stat(name, dir_fd=self._folder).st_mtime_ns
            else:
                mtime = os.stat(self.path(name)).st_mtime_ns
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as error:
            # A symlink loop, a name too long: make says so and counts the file as missing.
            self._warn_once(name, f"stat: {name}: {error.strerror}")
            return None
        ahead = mtime - time.time_ns()
        if ahead > 0:
            self.skewed = True
            seconds = ahead // 1_000_000_000
            self._warn_once(
                name, f"Warning: File '{name}' has modification time {seconds} s in the future"
            )
        return mtime

    def _warn_once(self, name: str, text: str) -> None:
        if name not in self._warned:
            self._warned.add(name)
            self._warn(text)

    def is_dir(self, name: str) -> bool:
        """Whether ``name`` is a folder (make never deletes one after a failed recipe)."""
        return os.path.isdir(self.path(name))

    def actual(self, name: str) -> int | None:
        """The real mtime now, ignoring the cache and overrides (to see what a recipe changed)."""
        return self._stat(name)

    def forget(self, name: str) -> None:
        """Drop the cached mtime after a recipe may have changed the file (make's re-stat)."""
        self._cache.pop(name, None)

    def touch(self, name: str) -> None:
        """Create ``name`` or set its mtime to now (``-t``); raises OSError as open() does."""
        path = self.path(name)
        with open(path, "a"):
            os.utime(path)
        self.forget(name)

    def remove(self, name: str) -> bool:
        """Delete ``name``; False when it was not there."""
        with contextlib.suppress(FileNotFoundError):
            os.remove(self.path(name))
            self.forget(name)
            return True
        return False
