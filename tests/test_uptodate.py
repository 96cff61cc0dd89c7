"""make's stale rule, table-driven: missing, strictly newer, phony, -B, multi-target, notes."""

from __future__ import annotations

import pytest

from minimake import Task
from minimake.disk import ASSUMED_OLD, MISSING, PHONY, WILL_BE_REMADE, Stamp
from minimake.uptodate import why_stale

T = Task.create("t", deps=["d"], recipe="x")
MULTI = Task.create(["t1", "t2"], deps=["d"], recipe="x")
PHONY_TASK = Task.create("all", deps=["d"], phony=True)
F = Stamp.file


@pytest.mark.parametrize(
    ("task", "targets", "deps", "always", "expected"),
    [
        (T, {"t": MISSING}, [("d", F(5))], False, "'t' does not exist"),
        (T, {"t": F(10)}, [("d", F(5))], False, None),
        # Equal mtimes are up to date (make compares strictly).
        (T, {"t": F(10)}, [("d", F(10))], False, None),
        (T, {"t": F(10)}, [("d", F(11))], False, "'d' is newer than 't'"),
        (T, {"t": F(10)}, [("d", WILL_BE_REMADE)], False, "'d' will be remade"),
        (T, {"t": F(10)}, [("d", PHONY)], False, "'d' is phony"),
        (T, {"t": F(10)}, [("d", ASSUMED_OLD)], False, None),  # -o: very old
        (T, {"t": F(10)}, [("d", F(5))], True, "forced by -B"),
        (PHONY_TASK, {"all": MISSING}, [], False, "phony"),
        # A multi-target task is judged by its oldest target.
        (MULTI, {"t1": F(20), "t2": F(8)}, [("d", F(10))], False, "'d' is newer than 't2'"),
        (MULTI, {"t1": F(20), "t2": F(12)}, [("d", F(10))], False, None),
        (MULTI, {"t1": F(20), "t2": MISSING}, [("d", F(10))], False, "'t2' does not exist"),
    ],
)
def test_why_stale(task: Task, targets: dict, deps: list, always: bool, expected: str | None):
    assert why_stale(task, targets, deps, always_make=always) == expected


def test_first_newer_dep_is_the_reason() -> None:
    task = Task.create("t", deps=["a", "b"], recipe="x")
    reason = why_stale(task, {"t": F(10)}, [("a", F(5)), ("b", F(12))])
    assert reason == "'b' is newer than 't'"
