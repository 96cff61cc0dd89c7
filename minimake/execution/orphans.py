"""What a run that died left running: its recipes' processes, found by the run's token.

Every run that writes puts a random token into its own environment (``MINIMAKE_RUN``), and
records it in the journal, before its first recipe starts; every process a recipe starts
inherits it, so no recipe exists unrecorded, however slow the journal's disk. A run that dies
never records its end: the next run reads ``/proc/PID/environ`` of every process it may read,
once, and stops those that carry a dead run's token, the whole process group where the group's
leader carries it (each recipe line leads one), else the process alone.

Nothing else is signalled: not a group a journal names (a journal is data from disk, and anyone
may have written it), not group 0 or 1, not minimake's own group nor its ancestors, and not a
run whose token this minimake inherited (a recipe of that run started it).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterable

from minimake.execution.groups import alive, kill_groups, running
from minimake.procfs import ancestors, stat_fields

VARIABLE = "MINIMAKE_RUN"


def stop_orphans(
    tokens: Iterable[str],
    *,
    grace: float = 5.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> list[int]:
    """Stop every process that carries one of ``tokens`` (dead runs'): SIGTERM, then after
    ``grace`` seconds SIGKILL, and wait until each is gone. Returns the process groups and
    lone processes it signalled (a group's id is its leader's pid)."""
    inherited = os.environ.get(VARIABLE)
    needles = [_needle(token) for token in tokens if token != inherited]
    if not needles:
        return []  # no look at /proc at all
    groups, lone = _carriers(needles)
    stopped = sorted(groups | lone)
    for signum in (signal.SIGTERM, signal.SIGKILL):
        kill_groups(groups, signum)
        for pid in lone:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signum)
        deadline = clock() + (grace if signum == signal.SIGTERM else 30.0)
        while (groups or lone) and clock() < deadline:
            groups = {group for group in groups if alive(group)}
            lone = {pid for pid in lone if running(pid)}
            if groups or lone:
                sleep(0.02)
        if not (groups or lone):
            break
    return stopped


def _needle(token: str) -> bytes:
    return f"\0{VARIABLE}={token}\0".encode()


def _carriers(needles: list[bytes]) -> tuple[set[int], set[int]]:
    """(groups whose leader carries a token, other processes that carry one), from one pass
    over /proc; minimake, its ancestors and their groups left out."""
    spared = ancestors()
    spared_groups = {os.getpgrp()} | {group for _, group in spared.values()}
    carrying: dict[int, int] = {}  # pid -> its group
    try:
        entries = os.listdir("/proc")
    except OSError:
        entries = []  # no /proc: nothing can be proven ours, so nothing is stopped
    for entry in entries:
        if not entry.isdigit() or int(entry) in spared:
            continue
        pid = int(entry)
        if _carries(pid, needles):
            fields = stat_fields(pid)
            if fields is not None and fields[0] != "Z":
                with contextlib.suppress(IndexError, ValueError):
                    carrying[pid] = int(fields[2])
    groups = {
        group
        for group in carrying.values()
        if group > 1 and group in carrying and group not in spared_groups
    }
    lone = {pid for pid, group in carrying.items() if group not in groups}
    return groups, lone


def _carries(pid: int, needles: list[bytes]) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as file:
            data = b"\0" + file.read() + b"\0"
    except OSError:  # gone, or another user's
        return False
    return any(needle in data for needle in needles)
