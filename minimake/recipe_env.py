"""What minimake tells one run of a recipe beside its own variables: which attempt it is, and,
for a task that allows failed deps, which of them failed; and the functions a Python recipe
reads them with. Nothing to import beyond ``os``: workers import it with the recipe."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator

ATTEMPT = "MINIMAKE_ATTEMPT"  # 1 for the first run of a recipe, 2 for its first retry, ...
FAILED_DEPS = "MINIMAKE_FAILED_DEPS"  # a file naming the deps that did not succeed, one a line
FOLDER = os.path.join(".minimake", "failed-deps")

# A recipe on the thread executor is told through its thread, not os.environ, which every
# thread shares (the process pool and shell recipes have an environment of their own).
_thread = threading.local()


@contextlib.contextmanager
def told_in_this_thread(env: tuple[tuple[str, str], ...]) -> Iterator[None]:
    """While a recipe runs in this thread: what ``attempt()`` and ``failed_deps()`` read."""
    _thread.env = dict(env)
    try:
        yield
    finally:
        _thread.env = None


def _variable(name: str) -> str | None:
    told: dict[str, str] | None = getattr(_thread, "env", None)
    if told is not None:
        return told.get(name)
    return os.environ.get(name)


def attempt() -> int:
    """In a recipe: which run of it this is (1, then 2 on its first retry); 1 outside a build."""
    return int(_variable(ATTEMPT) or "1")


def failed_deps() -> list[str]:
    """In the recipe of a task declared with ``allow_failed_deps=True``: the deps (as the task
    names them) that failed, or were not run because something they need failed; empty when
    all succeeded, and outside such a run."""
    path = _variable(FAILED_DEPS)
    if not path:
        return []
    with open(path, encoding="utf-8") as listing:
        return [line for line in listing.read().splitlines() if line]


def write_failed_deps(root: str, file_name: str, deps: list[str]) -> str:
    """Write the list ``failed_deps()`` reads for one task under ``root``; returns its path.
    Raises OSError when it cannot be written."""
    folder = os.path.join(root, FOLDER)
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, file_name)
    with open(path, "w", encoding="utf-8") as listing:
        listing.write("".join(f"{dep}\n" for dep in deps))
    return path
