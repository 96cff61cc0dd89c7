"""make's stale rule, table-driven: missing, strictly newer, phony, -B, multi-target, notes."""

from __future__ import annotations

import math

import pytest

from minimake import Task
from minimake.uptodate import Stamp, why_stale

T = Task.create("t", deps=["d"], recipe="x")
MULTI = Task.create(["t1", "t2"], deps=["d"], recipe="x")
PHONY = Task.create("all", deps=["d"], phony=True)


@pytest.mark.parametrize(
    ("task", "targets", "deps", "always", "expected"),
    [
        (T, {"t": None}, [("d", Stamp(5))], False, "'t' does not exist"),
        (T, {"t": 10}, [("d", Stamp(5))], False, None),
        # Equal mtimes are up to date (make compares strictly).
        (T, {"t": 10}, [("d", Stamp(10))], False, None),
        (T, {"t": 10}, [("d", Stamp(11))], False, "'d' is newer than 't'"),
        (T, {"t": 10}, [("d", Stamp.newest("will be remade"))], False, "'d' will be remade"),
        (T, {"t": 10}, [("d", Stamp.newest("is phony"))], False, "'d' is phony"),
        (T, {"t": 10}, [("d", Stamp(-math.inf))], False, None),  # -o: very old
        (T, {"t": 10}, [("d", Stamp(5))], True, "forced by -B"),
        (PHONY, {"all": None}, [], False, "phony"),
        # A multi-target task is judged by its oldest target.
        (MULTI, {"t1": 20, "t2": 8}, [("d", Stamp(10))], False, "'d' is newer than 't2'"),
        (MULTI, {"t1": 20, "t2": 12}, [("d", Stamp(10))], False, None),
        (MULTI, {"t1": 20, "t2": None}, [("d", Stamp(10))], False, "'t2' does not exist"),
    ],
)
def test_why_stale(task: Task, targets: dict, deps: list, always: bool, expected: str | None):
    assert why_stale(task, targets, deps, always_make=always) == expected


def test_first_newer_dep_is_the_reason() -> None:
    task = Task.create("t", deps=["a", "b"], recipe="x")
    reason = why_stale(task, {"t": 10}, [("a", Stamp(5)), ("b", Stamp(12))])
    assert reason == "'b' is newer than 't'"
