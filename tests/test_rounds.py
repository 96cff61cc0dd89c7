"""Rounds of a search: tasks that an expand_after generator declares from an earlier output."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import minimake
from minimake import Task
from minimake.result import Status
from tests.conftest import cli, write_tasks

# A toy successive halving: round n trains its configurations (each logs its output to
# runs.log), keeps the half closest to the number in prefer.txt, and round n+1 trains those.
SEARCH = """
import json, os
from minimake import expand_after, phony, task, var

CONFIGS = [int(c) for c in var("CONFIGS", "1,2,3,4,5,6").split(",")]
ROUNDS = int(var("ROUNDS", "2"))
FINAL = f"out/r{ROUNDS}/top.json"


def train(out, config, budget):
    with open("runs.log", "a") as log:
        log.write(out + "\\n")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as file:
        json.dump({"config": config, "budget": budget}, file)


def keep(out, inputs, k):
    with open("prefer.txt") as file:
        target = int(file.read())
    configs = [json.load(open(path))["config"] for path in inputs]
    with open(out, "w") as file:
        json.dump(sorted(configs, key=lambda c: abs(c - target))[:k], file)


def trials(n, configs):
    paths = [f"out/r{n}/{c}.json" for c in configs]
    before = [f"out/r{n - 1}/top.json"] if n > 1 else []
    for config, path in zip(configs, paths):
        task(path, recipe=train, args=(path, config, n), order_only=before)
    top = f"out/r{n}/top.json"
    k = max(1, len(configs) // 2)
    task(top, deps=[*paths, "prefer.txt"], recipe=keep, args=(top, paths, k))
    if n < ROUNDS:
        @expand_after(top, produces=[FINAL], name=f"round{n + 1}")
        def next_round(top_path):
            BROKEN
            with open(top_path) as file:
                trials(n + 1, json.load(file))


trials(1, CONFIGS)
phony("all", deps=[FINAL], default=True)
"""


def search(folder: Path, broken: str = "") -> Path:
    write_tasks(folder, SEARCH.replace("BROKEN", broken or "pass"))
    (folder / "prefer.txt").write_text("4")
    return folder


def line_of(folder: Path, text: str) -> int:
    lines = (folder / "tasks.py").read_text().splitlines()
    return next(number for number, line in enumerate(lines, 1) if text in line)


def runs(folder: Path) -> list[str]:
    log = folder / "runs.log"
    return sorted(log.read_text().split()) if log.exists() else []


def forget_runs(folder: Path) -> None:
    (folder / "runs.log").unlink(missing_ok=True)


def test_two_rounds_dry_run_then_build_then_null_build(tmp_path: Path) -> None:
    folder = search(tmp_path)
    where = f"tasks.py:{line_of(folder, '@expand_after')}"
    dry = cli("-n", cwd=folder)
    assert dry.returncode == 0, dry.stderr
    assert "train('out/r1/4.json', 4, 1)" in dry.stdout
    assert "out/r2/" not in dry.stdout.replace("out/r2/top.json is", "")
    assert (
        f"minimake: tasks declared by round2 ({where}) are known once out/r1/top.json is "
        "built; it has not run yet"
    ) in dry.stdout
    assert cli("-q", cwd=folder).returncode == 1

    built = cli("-j2", cwd=folder)
    assert built.returncode == 0, built.stderr
    round_one = [f"out/r1/{c}.json" for c in range(1, 7)]
    assert runs(folder) == sorted([*round_one, "out/r2/3.json", "out/r2/4.json", "out/r2/5.json"])
    assert json.loads((folder / "out/r2/top.json").read_text()) == [4]

    # Planned with round two known: a null build, -n and -q agree, --list shows it all.
    forget_runs(folder)
    assert "Nothing to be done for 'all'" in cli("-j2", cwd=folder).stdout
    assert "Nothing to be done for 'all'" in cli("-n", cwd=folder).stdout
    assert cli("-q", cwd=folder).returncode == 0
    assert "out/r2/5.json" in cli("--list", cwd=folder).stdout
    assert "out/r2/5.json" in cli("--graph", "dot", cwd=folder).stdout
    assert runs(folder) == []


def test_dry_run_after_round_one_shows_round_two(tmp_path: Path) -> None:
    folder = search(tmp_path)
    assert cli("out/r1/top.json", cwd=folder).returncode == 0
    dry = cli("-n", cwd=folder)
    assert dry.returncode == 0, dry.stderr
    assert "train('out/r2/5.json', 5, 2)" in dry.stdout
    assert "known once" not in dry.stdout
    assert (
        "out/r2/5.json"
        in cli("--explain", "out/r2/5.json", cwd=folder).stdout
        + cli("--explain", "out/r2/5.json", cwd=folder).stderr
    )


def test_a_changed_kept_set_trains_only_the_new_configurations(tmp_path: Path) -> None:
    folder = search(tmp_path)
    assert cli(cwd=folder).returncode == 0
    (folder / "prefer.txt").write_text("5")  # keeps 5, 4, 6 where it kept 4, 3, 5
    top = (folder / "out/r1/top.json").stat().st_mtime_ns
    os.utime(folder / "prefer.txt", ns=(top + 10**9, top + 10**9))
    dry = cli("-n", cwd=folder)
    assert "last time it declared 4 tasks" in dry.stdout
    forget_runs(folder)
    assert cli("-j2", cwd=folder).returncode == 0
    assert runs(folder) == ["out/r2/6.json"]
    assert json.loads((folder / "out/r2/top.json").read_text()) == [5]


def test_three_rounds(tmp_path: Path) -> None:
    folder = search(tmp_path)
    env = ["ROUNDS=3", "CONFIGS=1,2,3,4,5,6,7,8"]
    dry = cli("-n", *env, cwd=folder)
    assert "round2" in dry.stdout
    assert "round3" not in dry.stdout
    assert cli("-j2", *env, cwd=folder).returncode == 0
    assert len(runs(folder)) == 8 + 4 + 2
    assert [r for r in runs(folder) if "/r3/" in r] == ["out/r3/3.json", "out/r3/4.json"]
    assert json.loads((folder / "out/r3/top.json").read_text()) == [4]
    journal = (folder / ".minimake/journal").read_text()
    assert "e\tround2\t" in journal
    assert "e\tround3\t" in journal
    forget_runs(folder)
    assert "Nothing to be done" in cli("-j2", *env, cwd=folder).stdout
    assert "Nothing to be done" in cli("-n", *env, cwd=folder).stdout
    assert runs(folder) == []


def test_a_generator_that_raises_is_a_build_error_at_its_line(tmp_path: Path) -> None:
    folder = search(tmp_path, broken="raise ValueError('no round two')")
    # Beside the search, a branch that does not need round two.
    with open(folder / "tasks.py", "a") as file:
        file.write("task('other.txt', recipe='echo other > other.txt')\n")
    built = cli("-k", "all", "other.txt", cwd=folder)
    assert built.returncode == 2
    where = f"tasks.py:{line_of(folder, 'no round two')}"
    assert where in built.stderr
    assert "ValueError: no round two" in built.stderr
    assert (folder / "other.txt").exists()
    assert not (folder / "out/r2").exists()  # nothing of it was applied
    assert "Target 'all' not remade because of errors." in built.stderr


def test_a_generated_target_written_twice_is_an_error(tmp_path: Path) -> None:
    folder = search(tmp_path, broken="task('out/r1/2.json', recipe='true')")
    built = cli(cwd=folder)
    assert built.returncode == 2
    assert "round2" in built.stderr
    assert "out/r1/2.json" in built.stderr
    assert not (folder / "out/r2").exists()


def test_two_rounds_on_the_thread_executor(tmp_path: Path) -> None:
    folder = search(tmp_path)
    assert cli("-j2", "--executor", "thread", cwd=folder).returncode == 0
    assert json.loads((folder / "out/r2/top.json").read_text()) == [4]
    assert len(runs(folder)) == 9


@pytest.mark.dask
def test_two_rounds_on_dask(tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    import logging

    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, silence_logs=logging.ERROR
    )
    client = distributed.Client(cluster)
    try:
        folder = search(tmp_path)
        result = minimake.build(folder / "tasks.py", executor=client, jobs=2)
    finally:
        client.close()
        cluster.close()
    assert result.ok
    assert json.loads((folder / "out/r2/top.json").read_text()) == [4]
    assert len(runs(folder)) == 9


def test_a_generator_in_code_declares_tasks_after_its_trigger(tmp_path: Path) -> None:
    def seed() -> None:
        (tmp_path / "seed.txt").write_text("3")

    def later(path: str) -> None:
        for index in range(int(Path(path).read_text())):  # a path that reaches it from here
            minimake.task(f"part{index}.txt", recipe=f"echo {index} > part{index}.txt")
        minimake.task(
            "sum.txt",
            [f"part{i}.txt" for i in range(3)],
            recipe="cat part0.txt part1.txt part2.txt > sum.txt",
        )

    tasks = [
        Task.create("seed.txt", recipe=seed),
        minimake.expand_after("seed.txt", produces=["sum.txt"])(later),
    ]
    result = minimake.build(tasks, ["sum.txt"], root=tmp_path, executor="thread")
    assert result.ok
    assert (tmp_path / "sum.txt").read_text().split() == ["0", "1", "2"]
    assert result.tasks["part2.txt"].status is Status.RAN


@pytest.mark.scale
def test_a_generator_that_declares_twenty_thousand_tasks(tmp_path: Path) -> None:
    count = 20_000

    def many() -> None:
        for index in range(count):
            minimake.phony(f"gen/{index}")
        minimake.phony("gathered", [f"gen/{index}" for index in range(count)])

    tasks = [
        Task.create("seed.txt", recipe="echo > seed.txt"),
        minimake.expand_after("seed.txt", produces=["gathered"])(many),
        Task.create("all", ["gathered"], phony=True),
    ]
    result = minimake.build(tasks, ["all"], root=tmp_path, executor="thread")
    assert result.ok
    assert len(result.tasks) == count + 4


def test_a_dep_on_an_unknown_product_names_the_generator(tmp_path: Path) -> None:
    folder = search(tmp_path)
    with open(folder / "tasks.py", "a") as file:
        file.write("task('report.txt', deps=['out/r2/5.json'], recipe='true')\n")
    dry = cli("-n", "report.txt", cwd=folder)
    assert dry.returncode == 2
    assert "No rule to make target 'out/r2/5.json', needed by 'report.txt'" in dry.stderr
    assert "If round2 (tasks.py:" in dry.stderr
    assert "produces='out/r2/top.json'" in dry.stderr
