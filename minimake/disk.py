"""The file system as the engine sees it: one stat per file per run, -W and -o applied."""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Callable, Iterable


class Disk:
    """Cached mtimes (ns) of paths relative to ``root``; the seam tests replace.

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
        self._overrides: dict[str, float] = {os.path.normpath(p): math.inf for p in what_if}
        self._overrides.update({os.path.normpath(p): -math.inf for p in old})
        self._any_old = -math.inf in self._overrides.values()
        self._cache: dict[str, float | None] = {}

    def path(self, name: str) -> str:
        """The absolute path of ``name``."""
        # os.path.join's result, without its cost on each of a 100,000-file build's stats.
        return name if name.startswith("/") else self._prefix + name

    def mtime(self, name: str) -> float | None:
        """The mtime of ``name`` in ns, None when it does not exist."""
        if name in self._cache:
            return self._cache[name]
        # Without -W or -o there is nothing to look up: skip normalising every name.
        value = self._overrides.get(os.path.normpath(name)) if self._overrides else None
        if value is None or (value == math.inf and not os.path.lexists(self.path(name))):
            value = self._stat(name)
        self._cache[name] = value
        return value

    def exists(self, name: str) -> bool:
        """Whether ``name`` exists, or counts as existing (-o)."""
        return self.mtime(name) is not None

    def assumed_old(self, names: Iterable[str]) -> bool:
        """Whether ``-o`` named every one of ``names`` (and there is one): a task writing them
        is not remade, and what it needs is not made for its sake."""
        if not self._any_old:
            return False  # asked once per task: answer at once when -o named nothing
        names = list(names)
        old = -math.inf
        return bool(names) and all(self._overrides.get(os.path.normpath(n)) == old for n in names)

    def _stat(self, name: str) -> float | None:
        try:
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

    def actual(self, name: str) -> float | None:
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
