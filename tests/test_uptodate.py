"""make's stale rule, table-driven: missing, strictly newer, phony, -B, -W, -o, multi-target, and
the Reason values it returns (a kind, the paths and stamps behind it, the words people read)."""

from __future__ import annotations

import pytest

from minimake import Task
from minimake.disk import ASSUMED_NEW, ASSUMED_OLD, MISSING, PHONY, REMADE, WILL_BE_REMADE, Stamp
from minimake.signature import of
from minimake.uptodate import Reason, ReasonKind, why_changed, why_stale

T = Task.create("t", deps=["d"], recipe="x")
MULTI = Task.create(["t1", "t2"], deps=["d"], recipe="x")
PHONY_TASK = Task.create("all", deps=["d"], phony=True)
F = Stamp.file
K = ReasonKind


@pytest.mark.parametrize(
    ("task", "targets", "deps", "always", "expected", "text"),
    [
        (T, {"t": MISSING}, [("d", F(5))], False, Reason(K.MISSING, "t"), "'t' does not exist"),
        (T, {"t": F(10)}, [("d", F(5))], False, None, None),
        # Equal mtimes are up to date (make compares strictly).
        (T, {"t": F(10)}, [("d", F(10))], False, None, None),
        (
            T,
            {"t": F(10)},
            [("d", F(11))],
            False,
            Reason(K.NEWER, "d", "t", (F(11), F(10))),
            "'d' is newer than 't'",
        ),
        (
            T,
            {"t": F(10)},
            [("d", WILL_BE_REMADE)],
            False,
            Reason(K.WILL_BE_REMADE, "d", "t"),
            "'d' will be remade",
        ),
        (T, {"t": F(10)}, [("d", REMADE)], False, Reason(K.REMADE, "d", "t"), "'d' was remade"),
        (T, {"t": F(10)}, [("d", PHONY)], False, Reason(K.PHONY_DEP, "d", "t"), "'d' is phony"),
        (T, {"t": F(10)}, [("d", ASSUMED_OLD)], False, None, None),  # -o: very old
        (T, {"t": F(10)}, [("d", MISSING)], False, None, None),  # a missing dep is no reason
        (
            T,
            {"t": F(10)},
            [("d", ASSUMED_NEW)],  # -W: as a newer file, said the same way
            False,
            Reason(K.WHAT_IF, "d", "t", (ASSUMED_NEW, F(10))),
            "'d' is newer than 't'",
        ),
        (T, {"t": ASSUMED_NEW}, [("d", PHONY)], False, None, None),  # -W on the target
        (
            T,
            {"t": ASSUMED_OLD},  # -o on one target of a task: any dep there is newer
            [("d", F(1))],
            False,
            Reason(K.NEWER, "d", "t", (F(1), ASSUMED_OLD)),
            "'d' is newer than 't'",
        ),
        (T, {"t": F(10)}, [("d", F(5))], True, Reason(K.ALWAYS_MAKE), "forced by -B"),
        (PHONY_TASK, {"all": MISSING}, [], False, Reason(K.PHONY), "phony"),
        # A multi-target task is judged by its oldest target.
        (
            MULTI,
            {"t1": F(20), "t2": F(8)},
            [("d", F(10))],
            False,
            Reason(K.NEWER, "d", "t2", (F(10), F(8))),
            "'d' is newer than 't2'",
        ),
        (MULTI, {"t1": F(20), "t2": F(12)}, [("d", F(10))], False, None, None),
        (
            MULTI,
            {"t1": F(20), "t2": MISSING},
            [("d", F(10))],
            False,
            Reason(K.MISSING, "t2"),
            "'t2' does not exist",
        ),
    ],
)
def test_why_stale(
    task: Task,
    targets: dict,
    deps: list,
    always: bool,
    expected: Reason | None,
    text: str | None,
) -> None:
    reason = why_stale(task, targets, deps, always_make=always)
    assert reason == expected
    assert (str(reason) if reason is not None else None) == text


def test_first_newer_dep_is_the_reason() -> None:
    task = Task.create("t", deps=["a", "b"], recipe="x")
    reason = why_stale(task, {"t": F(10)}, [("a", F(5)), ("b", F(12))])
    assert reason is not None
    assert (reason.kind, reason.path, reason.dep, reason.target) == (K.NEWER, "b", "b", "t")
    assert str(reason) == "'b' is newer than 't'"


def test_a_missing_target_is_not_a_dep() -> None:
    reason = why_stale(T, {"t": MISSING}, [("d", F(5))])
    assert reason is not None
    assert (reason.path, reason.dep) == ("t", None)


def test_an_interrupted_run_names_its_pid() -> None:
    reason = why_stale(T, {"t": F(10)}, [("d", F(5))], interrupted=4242)
    assert reason == Reason(K.INTERRUPTED, pid=4242)
    assert str(reason) == "was being written when an earlier run stopped (pid 4242)"


def test_times_only_where_a_dep_is_compared_with_a_target() -> None:
    newer = why_stale(T, {"t": F(10**18)}, [("d", F(10**18 + 250_000_000))])
    assert newer is not None
    assert newer.times is not None
    assert newer.detailed() == f"'d' is newer than 't' ({newer.times})"
    what_if = why_stale(T, {"t": F(10**18)}, [("d", ASSUMED_NEW)])
    assert what_if is not None
    assert what_if.times is not None
    assert what_if.times.startswith("assumed new > ")
    phony = why_stale(T, {"t": F(10)}, [("d", PHONY)])
    assert phony is not None
    assert (phony.times, phony.detailed()) == (None, "'d' is phony")


def test_a_changed_recipe_is_a_reason_with_the_change_in_words() -> None:
    before = of(Task.create("t", recipe="echo 1"))
    assert before is not None
    reason = why_changed(before.dumps(), of(Task.create("t", recipe="echo 2")))
    assert reason == Reason(K.RECIPE_CHANGED, change="command line changed")
    assert str(reason) == "command line changed"
    assert why_changed(before.dumps(), before) is None
