"""Failed tasks' logs under ``.minimake/logs``: one file per task, removed once it succeeds
at its first attempt. A task that is retried (``retries=``) has the output of every attempt
in its log, one after the other, kept also when a retry succeeds: the flake stays on record.

A log is written after the failed recipe's half-written targets are deleted, never before: a
log that cannot be written (a full disk, a read-only project) costs a warning, not a target
that looks fresh.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil

from minimake.result import TaskResult
from minimake.task import Task, describe_recipe
from minimake.words import duration, failure_text

FOLDER = os.path.join(".minimake", "logs")


def log_name(task: str) -> str:
    """A file name for ``task``'s log: safe characters, plus a hash when some were replaced;
    never longer than a file name may be."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", task).lstrip(".") or "_"
    if safe != task or len(safe) > 200:
        safe = safe[:200] + "-" + hashlib.sha1(task.encode()).hexdigest()[:8]
    return safe + ".log"


class Logs:
    """The logs folder of one project."""

    def __init__(self, root: str) -> None:
        self.folder = os.path.join(root, FOLDER)
        self._names: set[str] | None = None  # the logs there now, listed once per build

    def _existing(self) -> set[str]:
        if self._names is None:
            try:
                self._names = set(os.listdir(self.folder))
            except OSError:
                self._names = set()
        return self._names

    def keep(self, task: Task, result: TaskResult, attempts: int = 1) -> str:
        """Write a failed task's log: how it ended, the traceback, then the output; returns
        its path. ``attempts`` is how many runs the task may have: an attempt after the first
        (``result.attempts``) is appended to the log of the ones before. Raises OSError when
        it cannot be written (the caller warns)."""
        outcome = result.outcome
        assert outcome is not None
        header = []
        if result.attempts <= 1:
            header.append(f"# task: {task.name}" + (f" ({task.location})" if task.location else ""))
            header += [f"# recipe: {line}" for line in describe_recipe(task)]
        ended = failure_text(result) if not outcome.ok else "succeeded"
        which = f"attempt {result.attempts} of {attempts} " if attempts > 1 else ""
        header.append(f"# {which}ended: {ended} after {duration(result.seconds)}")
        os.makedirs(self.folder, exist_ok=True)
        name = log_name(task.name)
        path = os.path.join(self.folder, name)
        # O_NOFOLLOW: a link planted in place of the log is never written through (state.py).
        # A retry's attempt is appended to the log of the attempts before it.
        flags = os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW
        flags |= os.O_TRUNC if result.attempts <= 1 else os.O_APPEND
        try:
            with open(os.open(path, flags, 0o644), "wb") as file:
                file.write(("".join(f"{line}\n" for line in header)).encode())
                if outcome.traceback:
                    file.write(outcome.traceback.encode(errors="replace"))
                text = outcome.output
                file.write((text + "\n" if text and text[-1] != "\n" else text).encode())
                if outcome.captured is not None and not outcome.captured.empty:
                    for part in outcome.captured.paths:
                        with open(part, "rb") as source:
                            shutil.copyfileobj(source, file, 1 << 20)
        except OSError:
            with contextlib.suppress(OSError):
                os.remove(path)
            raise
        self._existing().add(name)
        return path

    def forget(self, task: str) -> None:
        """``task`` succeeded: its log from an earlier failure no longer says anything true."""
        names = self._existing()
        if not names:
            return  # the common case, without naming the log
        name = log_name(task)
        if name in names:
            names.discard(name)
            with contextlib.suppress(OSError):
                os.remove(os.path.join(self.folder, name))
