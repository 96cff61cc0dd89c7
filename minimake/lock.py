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

from minimake.journal import FOLDER

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
        block until it is free. Ctrl-C while blocked raises KeyboardInterrupt as usual."""
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
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


def _holder(fd: int) -> tuple[int | None, float | None]:
    """The pid and start time the holder wrote (None when it has not written them yet)."""
    try:
        words = os.pread(fd, 100, 0).split()
        return int(words[0]), float(words[1])
    except (IndexError, ValueError, OSError):
        return None, None
