"""What minimake tells one run of a recipe beside its own variables: which attempt it is, and,
for a task that allows failed deps, which of them failed; and the functions a Python recipe
reads them with. Nothing to import beyond ``os``: workers import it with the recipe."""

from __future__ import annotations

import os

ATTEMPT = "MINIMAKE_ATTEMPT"  # 1 for the first run of a recipe, 2 for its first retry, ...
FAILED_DEPS = "MINIMAKE_FAILED_DEPS"  # a file naming the deps that did not succeed, one a line
FOLDER = os.path.join(".minimake", "failed-deps")


def attempt() -> int:
    """In a recipe: which run of it this is (1, then 2 on its first retry); 1 outside a build."""
    return int(os.environ.get(ATTEMPT, "1"))


def failed_deps() -> list[str]:
    """In the recipe of a task declared with ``allow_failed_deps=True``: the deps (as the task
    names them) that failed, or were not run because something they need failed; empty when
    all succeeded, and outside such a run."""
    path = os.environ.get(FAILED_DEPS)
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
