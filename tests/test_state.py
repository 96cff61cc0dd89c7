"""Symbolic links planted in ``.minimake``: removed with a warning, never written through."""

from __future__ import annotations

from pathlib import Path

import pytest

from minimake.journal import HEADER
from tests.conftest import cli, write_tasks

TASKS = """\
from minimake import task, phony
task("out.txt", recipe="echo built; touch out.txt")
task("fail", recipe="echo failing; exit 3")
phony("all", deps=["out.txt"], default=True)
"""
PRECIOUS = "precious\n"
# A capture file's name, from a run whose pid cannot be alive (above any pid_max).
ORPHAN = "999999999-0.out"


def plant(project: Path, entry: str, outside: Path, folder: bool) -> Path:
    """A link at ``.minimake/entry`` to ``outside`` (a folder holding files minimake might
    write or delete there, or a file), both outside the project."""
    if folder:
        outside.mkdir()
        for name in ("fail.log", ORPHAN, "journal", "lock"):
            (outside / name).write_text(PRECIOUS)
    else:
        outside.write_text(HEADER if entry == "journal" else PRECIOUS)
    link = project / ".minimake" / entry
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(outside, target_is_directory=folder)
    return link


def untouched(outside: Path, folder: bool, entry: str) -> bool:
    if folder:
        return sorted(p.name for p in outside.iterdir()) == sorted(
            ("fail.log", ORPHAN, "journal", "lock")
        ) and all(p.read_text() == PRECIOUS for p in outside.iterdir())
    return outside.read_text() == (HEADER if entry == "journal" else PRECIOUS)


@pytest.mark.parametrize(
    ("entry", "folder", "args"),
    [
        ("lock", False, ()),
        ("journal", False, ()),
        ("out", True, ()),
        ("logs", True, ("-k", "all", "fail")),
        ("logs/fail.log", False, ("-k", "all", "fail")),
        ("timings/minimake-timing.html", False, ("--timings",)),
        (".", True, ()),  # .minimake itself
    ],
)
def test_a_planted_link_is_removed_and_what_it_points_at_left_as_it_was(
    tmp_path: Path, entry: str, folder: bool, args: tuple[str, ...]
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    write_tasks(project, TASKS)
    outside = tmp_path / "outside"
    if entry == ".":
        outside.mkdir()
        for name in ("fail.log", ORPHAN, "journal", "lock"):
            (outside / name).write_text(PRECIOUS)
        link = project / ".minimake"
        link.symlink_to(outside, target_is_directory=True)
    else:
        link = plant(project, entry, outside, folder)
    done = cli(*args, cwd=project)
    assert untouched(outside, folder, entry), done.stderr
    assert f"warning: '{link}' was a symbolic link (to '{outside}'): removed it" in done.stderr
    assert not link.is_symlink()
    assert (project / "out.txt").exists()
    assert "built" in done.stdout
    if "fail" in args:
        assert "failing" in (project / ".minimake" / "logs" / "fail.log").read_text()
