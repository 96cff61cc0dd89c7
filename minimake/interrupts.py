"""The signals that stop a build (SIGINT, SIGTERM, SIGHUP): the first one raises, later ones
are only counted.

One signal, one clean-up: ``timeout`` sends SIGTERM to minimake and then to its group, and a
user presses Ctrl-C twice. A second signal raised in the middle of the clean-up would cut it
short (a recipe that ignores SIGTERM left running, its half-written target kept, the journal
told its group is gone). So the first signal raises Signalled, and every later one is counted
for whoever waits on something that cannot be stopped (a recipe's thread) and must leave it.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

STOPPING = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Signalled(KeyboardInterrupt):
    """SIGINT, SIGTERM or SIGHUP, raised like Ctrl-C so the build stops the same way."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


_first: int | None = None
_later = 0
_deferring = 0  # how deep in deferred() blocks the main thread is
_pending: int | None = None  # the first signal, held back until the block ends


def _on_signal(signum: int, frame: FrameType | None) -> None:
    global _first, _later, _pending
    if _first is None:
        _first = signum
        if _deferring:
            _pending = signum
            return
        raise Signalled(signum)
    _later += 1


class _Deferred:
    """A block that the first signal must not cut in two (a process started and not yet
    watched would escape the stop): the signal is raised when the block ends."""

    def __enter__(self) -> None:
        global _deferring
        _deferring += 1

    def __exit__(self, kind: object, error: object, trace: object) -> None:
        global _deferring, _pending
        _deferring -= 1
        if not _deferring and _pending is not None:
            signum, _pending = _pending, None
            if kind is None:
                raise Signalled(signum)


# Cheaper than a contextmanager's generator: entered once per recipe line started.
deferred = _Deferred()


def _count(signum: int, frame: FrameType | None) -> None:
    global _first, _later
    if _first is None:  # the first was Python's own KeyboardInterrupt
        _first = signum
    _later += 1


def install() -> None:
    """Stop the command on the first of STOPPING and count the rest (the command's main
    thread only: a library leaves a caller's handlers alone)."""
    global _first, _later, _pending
    _first, _later, _pending = None, 0, None
    for signum in STOPPING:
        signal.signal(signum, _on_signal)


def later() -> int:
    """How many stopping signals came after the one that stopped the build."""
    return _later


@contextlib.contextmanager
def held() -> Iterator[None]:
    """While a build cleans up after its interrupt: every stopping signal is counted, none
    raised, whatever handler the caller had (Python's own raises KeyboardInterrupt)."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signals reach the main thread only: nothing here can be interrupted by one
        return
    previous = {signum: signal.getsignal(signum) for signum in STOPPING}
    for signum in STOPPING:
        signal.signal(signum, _count)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            if handler is not None:  # None: set outside Python, which cannot be put back
                signal.signal(signum, handler)
