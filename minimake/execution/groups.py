"""Process groups: every recipe runs in one, so a group is how minimake stops a recipe whole.

A recipe's shell, the commands it starts and their background jobs share the recipe's group;
signalling the group reaches all of them, which signalling one pid would not.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from minimake.procfs import exists, stat_fields

# How often wait_gone looks again: killed processes vanish within milliseconds.
_POLL = 0.005
# A recipe past its time limit gets SIGTERM, then SIGKILL this many seconds later: time to
# flush and remove its temporary files, as `timeout -k 5` or systemd's stop would give.
TERM_GRACE = 5.0
# Python ignores these, and a child inherits what is ignored: `yes | head -1` would say
# "Broken pipe", and a pipeline whose reader left, or a too-big file, would never end it. A
# recipe, shell line or pool worker, starts with the defaults, as under make.
DEFAULT_SIGNALS = (signal.SIGPIPE, signal.SIGXFSZ)


def kill_groups(groups: Iterable[int], signum: int) -> None:
    """Send ``signum`` to each process group that still exists."""
    for group in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(group, signum)


def alive(group: int) -> bool:
    """Whether any process of ``group`` still runs (zombies waiting to be reaped do not count)."""
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # killpg also succeeds for a group of zombies, which have stopped running already; only
    # /proc tells them apart. This runs only when a build stops or a worker dies.
    return any(state != "Z" for state in _member_states(group))


def running(pid: int) -> bool:
    """Whether process ``pid`` exists and has not ended (a zombie waiting to be reaped has)."""
    if not exists(pid):
        return False
    fields = stat_fields(pid)
    return fields is None or fields[0] != "Z"


def _member_states(group: int) -> list[str]:
    states = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return ["?"]  # no /proc: trust killpg
    for entry in entries:
        if not entry.isdigit():
            continue
        fields = stat_fields(int(entry))
        if fields is not None and int(fields[2]) == group:
            states.append(fields[0])
    return states


def start_time(pid: int) -> int | None:
    """When ``pid`` started, in clock ticks since boot (field 22 of /proc/PID/stat): with the
    pid it names one process for good, though the kernel reuses pids."""
    fields = stat_fields(pid)
    return int(fields[19]) if fields is not None else None


def wait_gone(groups: Iterable[int], within: float) -> set[int]:
    """Wait up to ``within`` seconds for every process of ``groups`` to end; returns those left."""
    left = set(groups)
    deadline = time.monotonic() + within
    while left:
        left = {group for group in left if alive(group)}
        if not left or time.monotonic() > deadline:
            break
        time.sleep(_POLL)
    return left


def stop_groups(
    groups: Iterable[int], signum: int = signal.SIGKILL, within: float = 5.0
) -> set[int]:
    """Signal ``groups`` and wait for them to end; returns the groups still alive after that."""
    groups = set(groups)
    kill_groups(groups, signum)
    return wait_gone(groups, within)


def lead_group(parent: int, on_term: Callable[[int, Any], None] | int = signal.SIG_DFL) -> None:
    """In a process that runs recipes for minimake (a pool worker, a Dask worker's recipe
    process): lead a session and process group of its own, so that a terminal's Ctrl-C reaches
    minimake alone, which stops the group itself; SIGINT and SIGHUP at their defaults, SIGTERM
    to ``on_term``; and the whole group killed once ``parent`` is gone, since nobody else would
    stop a recipe whose task was already reported, and it must not go on writing its targets."""
    with contextlib.suppress(OSError):
        os.setsid()
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, on_term)
    threading.Thread(target=_watch, args=(parent,), daemon=True).start()


def _watch(parent: int) -> None:
    # A zombie parent counts as gone: it has stopped being minimake, though not reaped yet.
    while running(parent):
        time.sleep(0.5)
    os.killpg(os.getpid(), signal.SIGKILL)
