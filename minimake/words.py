"""How minimake words things for people, as make does: where a task is declared, how a recipe
ended, a duration, a path. Pure text, with nothing to import: workers and the null build use it."""

from __future__ import annotations

import os
import re
import signal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from minimake.result import TaskResult
    from minimake.task import Task

PROGRAM = "minimake"


def where(task: Task, target: str | None = None) -> str:
    """make's bracketed "[tasks.py:14: target]"; ``target``: the one of several the build
    reached the task through, which make names (its ``$@``)."""
    name = target or task.name
    return f"[{task.location}: {name}]" if task.location else f"[{name}]"


def signal_name(signum: int) -> str:
    """The C library's description of a signal, as make prints it ("Killed", "Terminated")."""
    return signal.strsignal(signum) or f"Signal {signum}"


def exit_words(status: int) -> str:
    """make's words for a failed command, from its returncode-style status (negative: the
    signal that ended it): "Error 2", "Killed"."""
    return signal_name(-status) if status < 0 else f"Error {status}"


def death(code: int | None) -> str:
    """How a process ended, from its returncode-style status: a signal (negative) or an exit."""
    if code is not None and code < 0:
        return f"killed by signal {-code}, {signal_name(-code)}"
    return f"exit code {code}"


def failure_text(result: TaskResult) -> str:
    """How a failed recipe ended, in make's words: "Error 2", "Killed", "ValueError: bad"."""
    outcome = result.outcome
    if outcome is None:
        return result.error or "Error"
    if outcome.timed_out is not None:
        return f"Timed out after {seconds(outcome.timed_out)}"
    if outcome.crashed:
        text = outcome.error or "worker process died"
        return text[:1].upper() + text[1:]
    if outcome.signal is not None:
        return exit_words(-outcome.signal)
    if outcome.returncode is not None:
        return exit_words(outcome.returncode)
    return outcome.error or "Error"


_FRAME = re.compile(r'^  File "(?P<file>.+)", line (?P<line>\d+), in (?P<function>.+)$')


def raised_at(task: Task, traceback: str) -> str | None:
    """Where in the tasks file a Python recipe raised: "tasks.py:22, in fit: raise ...".

    The innermost frame of the tasks file that declared ``task``; None when no frame is there.
    """
    shown = task.location.rpartition(":")[0] if task.location else None
    source = task.source or shown
    if source is None:
        return None
    found = None
    lines = traceback.splitlines()
    for index, line in enumerate(lines):
        match = _FRAME.match(line)
        if match and os.path.abspath(match["file"]) == os.path.abspath(source):
            code = lines[index + 1].strip() if index + 1 < len(lines) else ""
            found = f"{shown or source}:{match['line']}, in {match['function']}"
            if code and not code.startswith(("File ", "^", "~")):
                found += f": {code}"
    return found


def seconds(value: float) -> str:
    """A time limit as the user wrote it: "30s", "0.5s"."""
    return f"{value:g}s"


def duration(seconds: float) -> str:
    """A short human duration: "0.4s", "12.3s", "2m05s", "1h02m03s"."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{rest:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{rest:02d}s"


def shown(path: str) -> str:
    """A path as the user best reads it: relative to where they are, unless that climbs out."""
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative
