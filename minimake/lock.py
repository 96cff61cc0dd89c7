"""One run at a time per project folder: an ``fcntl.flock`` on ``.minimake/lock``.

The kernel drops the lock when the process holding it dies, however it dies, so a dead run
never blocks the next one. The holder writes its pid and start time into the file, for the
message the next run shows while it waits.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable

from minimake.errors import NestedRunError
from minimake.journal import FOLDER
from minimake.procfs import ancestors, exists

LOCK = "lock"

# Lock descriptors held in this process. A process forked from it (a pool worker) shares the
# open file and would keep the lock alive after we die: such a child closes them at once.
_held: set[int] = set()


def _close_in_child() -> None:
    for fd in list(_held):
        with contextlib.suppress(OSError):
            os.close(fd)
    _held.clear()


os.register_at_fork(after_in_child=_close_in_child)


class ProjectLock:
    """The exclusive lock of the project folder ``root``; ``acquire`` waits for it."""

    def __init__(self, root: str) -> None:
        self.path = os.path.join(root, FOLDER, LOCK)
        self._fd: int | None = None

    def acquire(self, waiting: Callable[[int | None, float | None], None]) -> None:
        """Take the lock; when another run holds it, call ``waiting(pid, since)`` once, then
        block until it is free. When the holder is an ancestor of this process (a recipe of
        that run started us), raise NestedRunError at once: it would never be free. Ctrl-C while
        blocked raises KeyboardInterrupt as usual."""
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        # O_NOFOLLOW: a link planted in place of the lock is never truncated through (state.py).
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
        _held.add(fd)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                # The holder writes who it is just after taking the lock: give it a moment.
                for _ in range(50):
                    pid, since = _holder(fd)
                    if pid is not None:
                        break
                    time.sleep(0.01)
                if pid is not None and pid in ancestors(os.getppid()):
                    # A recipe of that build started us: it waits for us, we would wait for it.
                    raise NestedRunError(pid) from None
                waiting(pid, since)
                fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            _held.discard(fd)
            os.close(fd)
            raise
        self._fd = fd
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {time.time():.3f}\n".encode(), 0)

    def release(self) -> None:
        """Let the next run in (closing the file drops the lock)."""
        if self._fd is not None:
            _held.discard(self._fd)
            os.close(self._fd)
            self._fd = None


def live_holder(root: str) -> int | None:
    """The pid of the run that holds ``root``'s lock now, None when no run does; takes and
    drops a shared lock only when the pid written there is alive (a dead run's file remains)."""
    try:
        fd = os.open(os.path.join(root, FOLDER, LOCK), os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        pid, _ = _holder(fd)
        if pid is None or not exists(pid):
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return pid  # held: that run is in progress
        except OSError:
            return None
        return None  # free: the pid was reused by another process
    finally:
        os.close(fd)


def _holder(fd: int) -> tuple[int | None, float | None]:
    """The pid and start time the holder wrote (None when it has not written them yet)."""
    try:
        words = os.pread(fd, 100, 0).split()
        return int(words[0]), float(words[1])
    except (IndexError, ValueError, OSError):
        return None, None
