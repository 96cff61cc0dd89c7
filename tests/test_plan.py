"""The plan's bookkeeping: ready order, release on done, draining."""

from __future__ import annotations

from minimake import Task
from minimake.graph import build_graph, priorities
from minimake.plan import Plan


def plan_of(spec: dict[str, list[str]]) -> Plan:
    graph = build_graph([Task.create(n, deps=d, recipe="x") for n, d in spec.items()])
    selected = set(spec)
    return Plan(graph, selected, priorities(graph, selected))


def test_longest_remaining_path_first_then_declaration_order() -> None:
    """Given free tasks declared before a chain, the chain's head starts first."""
    plan = plan_of({"f1": [], "f2": [], "c3": ["c2"], "c2": ["c1"], "c1": []})
    assert plan.pop() == "c1"
    assert plan.pop() == "f1"


def test_done_releases_a_task_only_when_all_its_deps_are_done() -> None:
    plan = plan_of({"a": [], "b": [], "c": ["a", "b"]})
    first, second = plan.pop(), plan.pop()
    assert not plan.has_ready()
    plan.done(first)
    assert not plan.has_ready()
    plan.done(second)
    assert plan.pop() == "c"
    plan.done("c")
    assert plan.finished()


def test_remaining_lists_what_was_never_done() -> None:
    plan = plan_of({"a": [], "b": ["a"], "c": []})
    plan.done(plan.pop())  # a
    assert plan.remaining() == ["b", "c"]
