"""What the kernel says of a process: whether it exists, its /proc/PID/stat fields, the
chain of processes above one, and the cores it may run on. Read by the lock (is the holder
alive, is it our ancestor), the execution layer (is a recipe's process over, which processes
to spare) and the command line and summary (-j all, parallelism against the cores)."""

from __future__ import annotations

import os


def exists(pid: int) -> bool:
    """Whether process ``pid`` exists (another user's included; a zombie too)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stat_fields(pid: int) -> list[str] | None:
    """/proc/PID/stat from its state field on: state, parent, process group, ...; None when it
    is gone or unreadable."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as file:
            text = file.read().decode(errors="replace")
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    return text[text.rfind(")") + 2 :].split()


def cores() -> int:
    """The cores this process may run on (its affinity), else the machine's."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def ancestors(pid: int | None = None) -> dict[int, tuple[str, int]]:
    """Process ``pid`` (default: this one) and each process above it: pid -> (state, group)."""
    found: dict[int, tuple[str, int]] = {}
    pid = os.getpid() if pid is None else pid
    while pid > 0 and pid not in found:
        fields = stat_fields(pid)
        if fields is None:
            break
        try:
            state, parent, group = fields[0], int(fields[1]), int(fields[2])
        except (IndexError, ValueError):
            break
        found[pid] = (state, group)
        pid = parent
    return found
