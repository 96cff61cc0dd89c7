"""--explain: why one target is stale or up to date, followed down the chain to the first cause."""

from __future__ import annotations

from pathlib import Path

import minimake
from minimake import Task
from minimake.disk import Disk, Stamp
from minimake.graph import build_graph
from minimake.uptodate import ReasonKind, format_mtime, format_stamp, format_stamps
from minimake.view.explain import Step, describe, explain
from tests.conftest import BASE, touch

NS = 1_000_000_000


def sh(name: str, deps: tuple[str, ...] = (), **kw: object) -> Task:
    return Task.create(name, deps=deps, recipe=f"echo {name} > {name}", **kw)  # type: ignore[arg-type]


def explain_in(tmp_path: Path, tasks: list[Task], target: str, **options: object) -> list[Step]:
    """A dry run of ``target`` in ``tmp_path``, then its explanation."""
    result = minimake.build(
        tasks,
        [target],
        root=tmp_path,
        dry_run=True,
        keep_going=True,
        **options,  # type: ignore[arg-type]
    )
    what_if, old = options.get("what_if", ()), options.get("old", ())
    disk = Disk(str(tmp_path), what_if=what_if, old=old)  # type: ignore[arg-type]
    return explain(build_graph(tasks), result, target, disk.stamp)


CHAIN = [sh("app", ("main.o", "util.o")), sh("main.o", ("main.c",)), sh("util.o", ("util.c",))]


def test_chain_is_followed_to_the_newer_source(tmp_path: Path) -> None:
    for seconds, name in enumerate(["util.c", "util.o", "main.o", "app"]):
        touch(tmp_path / name, seconds)
    touch(tmp_path / "main.c", 10)
    steps = explain_in(tmp_path, CHAIN, "app")
    newer, older = format_stamps(Stamp.file((BASE + 10) * NS), Stamp.file((BASE + 2) * NS))
    assert steps == [
        Step("app", "is stale", "'main.o' will be remade"),
        Step(
            "main.o",
            "is stale",
            f"'main.c' is newer than 'main.o' ({newer} > {older})",
            via="because",
        ),
    ]
    assert describe(steps, "app") == [
        "'app' is stale: 'main.o' will be remade",
        f"  because 'main.o' is stale: 'main.c' is newer than 'main.o' ({newer} > {older})",
    ]


def test_each_link_is_the_dep_its_reason_names(tmp_path: Path) -> None:
    for seconds, name in enumerate(["util.c", "util.o", "main.o", "app"]):
        touch(tmp_path / name, seconds)
    touch(tmp_path / "main.c", 10)
    result = minimake.build(CHAIN, ["app"], root=tmp_path, dry_run=True)
    app, main = result.tasks["app"].reason, result.tasks["main.o"].reason
    assert app is not None
    assert main is not None
    assert (app.kind, app.dep, app.target) == (ReasonKind.WILL_BE_REMADE, "main.o", "app")
    assert (main.kind, main.dep, main.target) == (ReasonKind.NEWER, "main.c", "main.o")
    assert main.stamps == (Stamp.file((BASE + 10) * NS), Stamp.file((BASE + 2) * NS))
    steps = explain(build_graph(CHAIN), result, "app", Disk(str(tmp_path)).stamp)
    assert [step.name for step in steps] == ["app", "main.o"]


def test_what_if_dep_is_shown_as_assumed_new(tmp_path: Path) -> None:
    for seconds, name in enumerate(["main.c", "util.c", "main.o", "util.o", "app"]):
        touch(tmp_path / name, seconds)
    steps = explain_in(tmp_path, CHAIN, "main.o", what_if=["main.c"])
    when = format_stamp(Stamp.file((BASE + 2) * NS))
    assert steps == [
        Step("main.o", "is stale", f"'main.c' is newer than 'main.o' (assumed new > {when})")
    ]


def test_target_assumed_old_is_up_to_date(tmp_path: Path) -> None:
    touch(tmp_path / "main.c", 10)
    touch(tmp_path / "main.o", 0)
    steps = explain_in(tmp_path, CHAIN, "main.o", old=["main.o"])
    assert steps == [
        Step("main.o", "is up to date", "its targets are assumed old (-o), so it is not remade")
    ]


def test_missing_target_is_its_own_first_cause(tmp_path: Path) -> None:
    touch(tmp_path / "main.c", 0)
    touch(tmp_path / "util.c", 0)
    steps = explain_in(tmp_path, CHAIN, "app")
    assert steps == [Step("app", "is stale", "'app' does not exist")]


def test_up_to_date_target_names_its_newest_dep(tmp_path: Path) -> None:
    for seconds, name in enumerate(["main.c", "util.c", "main.o", "util.o", "app"]):
        touch(tmp_path / name, seconds)
    steps = explain_in(tmp_path, CHAIN, "app")
    newest, target = format_stamps(Stamp.file((BASE + 3) * NS), Stamp.file((BASE + 4) * NS))
    assert steps == [
        Step(
            "app",
            "is up to date",
            f"its newest dep 'util.o' ({newest}) is not newer than 'app' ({target})",
        )
    ]


def test_up_to_date_without_deps(tmp_path: Path) -> None:
    touch(tmp_path / "data", 0)
    steps = explain_in(tmp_path, [sh("data")], "data")
    assert steps == [Step("data", "is up to date", "'data' exists and it has no deps")]


def test_forced_and_phony(tmp_path: Path) -> None:
    touch(tmp_path / "data", 0)
    assert explain_in(tmp_path, [sh("data")], "data", always_make=True) == [
        Step("data", "is stale", "forced by -B")
    ]
    tasks = [Task.create("all", deps=["clean"], phony=True), Task.create("clean", phony=True)]
    steps = explain_in(tmp_path, tasks, "all")
    assert steps == [
        Step("all", "is stale", "phony"),
        Step("clean", "is stale", "phony", via="and its dep"),
    ]
    assert describe(steps, "all") == [
        "'all' is stale: phony",
        "  and its dep 'clean' is stale: phony",
    ]


def test_dep_on_a_phony_task_leads_to_it(tmp_path: Path) -> None:
    touch(tmp_path / "out", 0)
    tasks = [sh("out", ("stamp",)), Task.create("stamp", phony=True, recipe="true")]
    assert explain_in(tmp_path, tasks, "out") == [
        Step("out", "is stale", "'stamp' is phony"),
        Step("stamp", "is stale", "phony", via="because"),
    ]


def test_missing_input_is_the_first_cause(tmp_path: Path) -> None:
    touch(tmp_path / "util.c", 0)
    steps = explain_in(tmp_path, CHAIN, "app")
    assert steps == [
        Step("app", "cannot be made", "it needs 'main.o'"),
        Step(
            "main.o",
            "cannot be made",
            "No rule to make target 'main.c', needed by 'main.o'.",
            via="because",
        ),
    ]


def test_plain_file_goal(tmp_path: Path) -> None:
    touch(tmp_path / "main.c", 0)
    touch(tmp_path / "util.c", 0)
    steps = explain_in(tmp_path, CHAIN, "main.c")
    when = format_mtime(BASE * NS)
    assert steps == [Step("main.c", "is a source file", f"no task writes it (modified {when})")]


def test_a_second_target_of_a_task_is_explained_by_its_task(tmp_path: Path) -> None:
    tasks = [Task.create(["x.c", "x.h"], deps=["x.y"], recipe="gen")]
    touch(tmp_path / "x.y", 0)
    steps = explain_in(tmp_path, tasks, "x.h")
    assert steps == [Step("x.c", "is stale", "'x.c' does not exist")]
    assert describe(steps, "x.h") == ["'x.h' is stale: 'x.c' does not exist"]


def test_phony_goal_leads_through_an_alias_to_the_stale_task(tmp_path: Path) -> None:
    touch(tmp_path / "m.in", 0)
    tasks = [
        Task.create("all", deps=["models"], phony=True),
        Task.create("models", deps=["m"], phony=True),
        sh("m", ("m.in",)),
    ]
    assert describe(explain_in(tmp_path, tasks, "all"), "all") == [
        "'all' is stale: phony",
        "  and its dep 'models' is stale: phony",
        "    and its dep 'm' is stale: 'm' does not exist",
    ]


def test_a_deep_chain_is_explained_in_output_linear_in_its_depth(tmp_path: Path) -> None:
    """20,000 links, each stale because the one below is: the text grows by a bounded number
    of bytes per link (one indent more per link was quadratic: 64 MB for 8,000)."""
    depth = 20_000
    tasks = [sh("t0", ("src",))] + [sh(f"t{i}", (f"t{i - 1}",)) for i in range(1, depth)]
    for i in range(depth):
        touch(tmp_path / f"t{i}", 0)
    touch(tmp_path / "src", 1)
    top = f"t{depth - 1}"
    lines = describe(explain_in(tmp_path, tasks, top), top)
    assert len(lines) == depth  # every link of the chain, down to t0
    assert lines[-1].startswith(f"{'  ' * 8}[{depth - 1}] because 't0' is stale: 'src'")
    # Each line's names and reason, plus at most 8 indents and a depth: under 200 bytes.
    assert max(len(line) for line in lines) < 200
    assert sum(len(line) + 1 for line in lines) < 150 * depth
