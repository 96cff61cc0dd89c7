"""The graph, table-driven: edges, selection, cycles, duplicates, missing inputs, priorities."""

from __future__ import annotations

import itertools

import pytest

from minimake import Task
from minimake.errors import CycleError, DuplicateOutputError, NoRuleError
from minimake.graph import (
    build_graph,
    default_goal,
    make_order,
    missing_inputs,
    priorities,
    resolve_goals,
    select,
    triggers,
)


def tasks(spec: dict[str, list[str]]) -> list[Task]:
    """{"a": ["b"]}: task a needs b; a name with no entry of its own is a plain file."""
    return [Task.create(name, deps=deps, recipe=f"touch {name}") for name, deps in spec.items()]


@pytest.mark.parametrize(
    ("spec", "goal", "selected"),
    [
        ({"a": ["b"], "b": ["c"], "c": []}, "a", {"a", "b", "c"}),
        ({"a": ["b"], "b": ["c"], "c": []}, "b", {"b", "c"}),
        ({"a": ["b", "c"], "b": ["d"], "c": ["d"], "d": []}, "c", {"c", "d"}),
        ({"a": ["src.c"], "x": []}, "a", {"a"}),  # a plain file is not a node
    ],
)
def test_select_keeps_goal_and_what_it_needs(spec: dict, goal: str, selected: set) -> None:
    assert select(build_graph(tasks(spec)), [goal]) == selected


@pytest.mark.parametrize(
    ("spec", "cycle"),
    [
        ({"a": ["a"]}, ("a", "a")),
        ({"a": ["b"], "b": ["a"]}, None),
        ({"a": ["b"], "b": ["c"], "c": ["a"]}, None),
    ],
)
def test_cycle_is_fatal_with_its_whole_path(spec: dict, cycle: tuple | None) -> None:
    with pytest.raises(CycleError) as caught:
        build_graph(tasks(spec))
    path = caught.value.cycle
    assert path[0] == path[-1]
    assert set(path) == set(spec)
    if cycle:
        assert path == cycle
    # Reads "a needs b": each step is a dep of the one before.
    for needer, needed in itertools.pairwise(path):
        assert needed in spec[needer]
    assert str(caught.value).startswith("Dependency cycle: ")


@pytest.mark.parametrize(
    "spec",
    [
        {"c": [], "b": ["c"], "a": ["b", "c"]},  # each after what it needs
        {"a": ["b", "c"], "b": ["c"], "c": []},  # the goal first, as in a Makefile
        {"a": ["c"], "c": [], "b": ["a"]},
    ],
)
def test_every_task_comes_after_what_it_needs_however_it_was_declared(spec: dict) -> None:
    graph = build_graph(tasks(spec))
    position = {name: index for index, name in enumerate(graph.sorted_names)}
    assert sorted(position) == sorted(spec)
    assert all(position[dep] < position[name] for name, deps in spec.items() for dep in deps)
    if all(position[name] == index for index, name in enumerate(spec)):
        assert list(spec) == graph.sorted_names  # declared in order: that order is kept


def test_an_order_only_dep_declared_later_is_still_built_first() -> None:
    use = Task.create("use", order_only=["dir"], recipe="x")
    folder = Task.create("dir", recipe="mkdir dir")
    assert build_graph([use, folder]).sorted_names == ["dir", "use"]
    with pytest.raises(CycleError):
        build_graph([Task.create("a", order_only=["b"]), Task.create("b", deps=["a"])])


def test_two_tasks_writing_one_file_is_fatal() -> None:
    first = Task.create(["x.c", "x.h"], recipe="gen")
    second = Task.create("x.h", recipe="other")
    with pytest.raises(DuplicateOutputError) as caught:
        build_graph([first, second])
    assert (caught.value.first, caught.value.second, caught.value.path) == ("x.c", "x.h", "x.h")


def test_dep_on_any_target_of_a_multi_target_task() -> None:
    gen = Task.create(["x.c", "x.h"], recipe="gen")
    use = Task.create("x.o", deps=["x.h"], recipe="cc")
    graph = build_graph([gen, use])
    assert list(graph.dag.predecessors("x.o")) == ["x.c"]


def test_order_only_edges_are_marked() -> None:
    folder = Task.create("out", recipe="mkdir out")
    both = Task.create("b", deps=["out"], order_only=["out"], recipe="x")
    only = Task.create("c", order_only=["out"], recipe="x")
    graph = build_graph([folder, both, only])
    assert graph.dag.edges["out", "c"]["order_only"] is True
    # Normal wins, as in make; normal edges carry no data (a 100,000-edge graph stays small).
    assert graph.dag.edges["out", "b"].get("order_only", False) is False


def test_missing_input_names_who_needs_it_with_suggestions() -> None:
    graph = build_graph(tasks({"main.o": ["main.cc"], "util.o": ["util.c"]}))
    present = {"util.c"}
    errors = missing_inputs(graph, {"main.o", "util.o"}, present.__contains__)
    assert [(e.target, e.needed_by) for e in errors] == [("main.cc", "main.o")]
    assert str(errors[0]) == "No rule to make target 'main.cc', needed by 'main.o'."


def test_unknown_goal_gets_close_matches() -> None:
    graph = build_graph(tasks({"train": [], "test": []}))
    with pytest.raises(NoRuleError) as caught:
        resolve_goals(graph, ["trian"], lambda path: False)
    assert "train" in caught.value.suggestions
    assert caught.value.hint is not None


def test_goal_may_be_an_existing_plain_file() -> None:
    graph = build_graph(tasks({"a": []}))
    assert resolve_goals(graph, ["a", "README"], {"README"}.__contains__) == (["a"], ["README"])


def test_default_goal_is_first_unless_marked() -> None:
    plain = build_graph(tasks({"a": [], "b": []}))
    assert default_goal(plain) == "a"
    marked = build_graph([Task.create("a"), Task.create("all", phony=True, default=True)])
    assert default_goal(marked) == "all"


def test_priority_is_the_longest_chain_to_the_end() -> None:
    spec = {"chain1": ["chain2"], "chain2": ["chain3"], "chain3": [], "free": []}
    graph = build_graph(tasks(spec))
    assert priorities(graph, set(spec)) == {"chain1": 1, "chain2": 2, "chain3": 3, "free": 1}


def test_triggers_name_the_target_make_reaches_a_group_through_first() -> None:
    """make walks the goals in order and each target's deps in order, depth first."""
    group = Task.create(["g1", "g2", "g3"], recipe=":")
    graph = build_graph(
        [
            Task.create("m", deps=["x", "g3", "g1"]),
            Task.create("x", deps=["g2"], recipe=":"),
            group,
        ]
    )
    assert triggers(graph, ["m"]) == {"g1": "g2"}
    assert triggers(graph, ["g1", "m"]) == {"g1": "g1"}
    assert triggers(build_graph([Task.create("a", recipe=":")]), ["a"]) == {}


class TestMakeOrder:
    """make's order with one job: the goals in turn, deps then order-only deps in order,
    depth first, each task once the walk is back from all it needs."""

    def test_goals_in_turn_and_deps_depth_first(self) -> None:
        declared = tasks({"c": [], "b": ["c", "src"], "d": [], "a": ["d", "b"], "e": ["c"]})
        declared.append(Task.create("f", deps=["d"], order_only=["e", "b"], recipe="touch f"))
        graph = build_graph(declared)
        every = set(graph.tasks)
        assert list(make_order(graph, ["a"], every)) == ["d", "c", "b", "a", "e", "f"]
        assert list(make_order(graph, ["e", "f", "a"], every)) == ["c", "e", "d", "b", "f", "a"]

    def test_a_group_is_reached_through_any_target(self) -> None:
        group = Task.create(["g1", "g2"], recipe="touch g1 g2")
        graph = build_graph([*tasks({"x": ["g2"], "y": []}), group])
        assert list(make_order(graph, ["y", "x"], set(graph.tasks))) == ["y", "g1", "x"]

    def test_only_within_and_the_unreached_after_in_declaration_order(self) -> None:
        graph = build_graph(tasks({"z": [], "c": [], "b": ["c"], "a": ["b"]}))
        # c is settled (up to date): not walked; z is not reached from the goal.
        assert list(make_order(graph, ["a"], {"a", "b", "z"})) == ["b", "a", "z"]

    def test_an_old_files_task_is_walked_but_not_what_it_needs(self) -> None:
        graph = build_graph(tasks({"c": [], "b": ["c"], "d": ["b", "c"]}))
        order = make_order(graph, ["d"], set(graph.tasks), prune=lambda name: name == "b")
        assert list(order) == ["b", "c", "d"]
