"""The plan's bookkeeping: ready order, release on done, draining."""

from __future__ import annotations

import heapq
import itertools
from pathlib import Path

import networkx as nx
import pytest

from minimake import Task
from minimake.graph import Graph, build_graph, priorities
from minimake.journal import Journal
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


def test_a_task_done_twice_is_refused() -> None:
    plan = plan_of({"a": [], "b": ["a"]})
    plan.done(plan.pop())
    with pytest.raises(ValueError, match=r"^task 'a' was already done$"):
        plan.done("a")
    assert plan.pop() == "b"  # the refusal released nothing twice
    assert not plan.has_ready()


@pytest.mark.parametrize("name", ["b", "nowhere"])
def test_a_task_never_handed_out_is_refused(name: str) -> None:
    """Given 'b' still waiting for 'a' (or a name the plan never had), done() refuses it."""
    plan = plan_of({"a": [], "b": ["a"]})
    with pytest.raises(ValueError, match=rf"^task '{name}' was not handed out by pop\(\)$"):
        plan.done(name)
    assert plan.remaining() == ["a", "b"]


# --- Learned durations: the longest work starts first (a simulated -j2 with a fake clock)

LPT = {f"short{i}": 0.5 for i in range(12)} | {"long": 3.0}


def lpt_graph() -> tuple[Graph, set[str]]:
    """12 tasks of 0.5 s declared before one of 3 s, all under a phony `all`."""
    declared = [Task.create(name, recipe="sleep") for name in LPT]
    declared.append(Task.create("all", deps=list(LPT), phony=True))
    graph = build_graph(declared)
    return graph, set(graph.tasks)


def simulate(plan: Plan, seconds: dict[str, float], jobs: int) -> tuple[float, list[str]]:
    """Run the plan on ``jobs`` slots with a fake clock; (makespan, start order)."""
    clock, running, order = 0.0, [], []
    while not plan.finished():
        while plan.has_ready() and len(running) < jobs:
            name = plan.pop()
            order.append(name)
            heapq.heappush(running, (clock + seconds.get(name, 0.0), name))
        clock, name = heapq.heappop(running)
        plan.done(name)
    return clock, order


def recorded(tmp_path: Path, durations: dict[str, float]) -> Journal:
    """A journal that an earlier run left with ``durations`` (written and read back)."""
    earlier = Journal(str(tmp_path), writable=True)
    for name, took in durations.items():
        earlier.finished(name, took, None)
    earlier.close()
    return Journal(str(tmp_path), writable=False)


def test_without_a_journal_tasks_start_in_declaration_order(tmp_path: Path) -> None:
    graph, selected = lpt_graph()
    plan = Plan(graph, selected, priorities(graph, selected, recorded(tmp_path, {}).durations))
    makespan, order = simulate(plan, LPT, jobs=2)
    assert order[:2] == ["short0", "short1"]
    assert makespan == 6.0  # make's order: the long task starts last


def test_recorded_durations_start_the_longest_work_first(tmp_path: Path) -> None:
    graph, selected = lpt_graph()
    durations = recorded(tmp_path, LPT).durations
    plan = Plan(graph, selected, priorities(graph, selected, durations))
    makespan, order = simulate(plan, LPT, jobs=2)
    assert order[0] == "long"
    assert makespan == 4.5  # 3 s beside six 0.5 s tasks, then the last six on two slots


def test_a_long_chain_outranks_a_long_task(tmp_path: Path) -> None:
    """Given a chain of three 2 s tasks and one 5 s task, the chain's head starts first."""
    seconds = {"c1": 2.0, "c2": 2.0, "c3": 2.0, "big": 5.0}
    graph = build_graph(
        [
            Task.create("big", recipe="x"),
            Task.create("c1", recipe="x"),
            Task.create("c2", deps=["c1"], recipe="x"),
            Task.create("c3", deps=["c2"], recipe="x"),
        ]
    )
    durations = recorded(tmp_path, seconds).durations
    weights = priorities(graph, set(graph.tasks), durations)
    # Each weighs its duration plus a tenth for the step.
    assert weights == pytest.approx({"big": 5.1, "c1": 6.3, "c2": 4.2, "c3": 2.1})
    assert Plan(graph, set(graph.tasks), weights).pop() == "c1"


def test_tasks_never_run_count_as_the_median_and_aliases_as_nothing() -> None:
    graph = build_graph(
        [
            Task.create("a", recipe="x"),
            Task.create("b", recipe="x"),
            Task.create("c", recipe="x"),
            Task.create("new", recipe="x"),
            Task.create("all", deps=["a", "b", "c", "new"]),
        ]
    )
    weights = priorities(graph, set(graph.tasks), {"a": 1.0, "b": 2.0, "c": 9.0})
    assert weights["new"] == pytest.approx(2.1)
    assert weights["all"] == 0.0


def test_durations_that_are_noise_keep_the_chain_rule_and_declaration_order() -> None:
    """Given tasks of a few milliseconds, the chain head first, then declaration order."""
    graph = build_graph(
        [
            Task.create("one", recipe="x"),
            Task.create("two", recipe="x"),
            Task.create("c1", recipe="x"),
            Task.create("c2", deps=["c1"], recipe="x"),
        ]
    )
    noise = {"one": 0.0011, "two": 0.0042, "c1": 0.0009, "c2": 0.001}
    plan = Plan(graph, set(graph.tasks), priorities(graph, set(graph.tasks), noise))
    assert [plan.pop(), plan.pop(), plan.pop()] == ["c1", "one", "two"]


def test_priorities_of_a_40000_task_chain_and_fan() -> None:
    """One pass, no recursion: a chain as deep as the build is large, beside a wide fan."""
    n = 20_000
    chain, fan = [f"c{i}" for i in range(n)], [f"f{i}" for i in range(n)]
    dag = nx.DiGraph()
    dag.add_edges_from(itertools.pairwise(chain))
    dag.add_edges_from(("c0", name) for name in fan)
    one = Task(targets="x", recipe="x")  # priorities read only whether a task has a recipe
    names = chain + fan
    graph = Graph(dag, dict.fromkeys(names, one), {}, {name: i for i, name in enumerate(names)})
    selected = set(names)
    durations = {f"c{i}": 0.5 for i in range(0, n, 2)}
    weights = priorities(graph, selected, durations)
    assert len(weights) == 2 * n
    # c0 heads the chain: half its links known at 0.5 s, the others the median, 0.5 s; each
    # link adds its 0.1 s step.
    assert weights["c0"] == pytest.approx(0.6 * n)
    assert weights["f7"] == pytest.approx(0.6)
    assert priorities(graph, selected)["c0"] == n
