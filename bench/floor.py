"""The floor under any Python engine for figures (a) and (d) of engine_bench.py, beside make.

The floor is a Python process that imports networkx (the project's graph library) and then
starts every recipe of the same tree at -j2 with nothing else: `posix_spawn`, a pidfd per
recipe in one epoll, no graph, no stat, no journal, no output. It ignores the DAG's order
constraints too, so it is a lower bound. What minimake takes above the floor is its own cost
per task; where the floor itself is above a goal's ratio to make, no Python engine meets that
goal on this machine.

    python bench/floor.py                  # (a) 1,000 trivial tasks and (d) the 10,000-task DAG
    python bench/floor.py --only a --reps 9
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import engine_bench
from engine_bench import JOBS2, Sample, dag_gen

# The whole floor program: a file of command lines in, every line run, two at a time (the
# benchmark's environment, engine_bench.ENV, is every command's, as in engine_bench).
BARE = """\
import os, select, sys
import networkx
commands = [line.split() for line in open(sys.argv[1]).read().splitlines()]
env, epoll, running, index = dict(os.environ), select.epoll(), 0, 0
while index < len(commands) or running:
    while running < 2 and index < len(commands):
        pid = os.posix_spawnp(commands[index][0], commands[index], env, setsid=True)
        epoll.register(os.pidfd_open(pid), select.EPOLLIN)
        index, running = index + 1, running + 1
    for fd, _ in epoll.poll():
        epoll.unregister(fd)
        os.close(fd)
        os.wait()
        running -= 1
"""

FIGURES = {
    "a": "(a) 1,000 independent `touch out/N`, -j2",
    "d": "(d) 10,000-task random DAG from clean, -j2",
}
SIZES = {"a": 1_000, "d": 10_000}


def measure(figure: str, reps: int, work: Path) -> dict[str, list[Sample]]:
    """engine_bench's figure, with the floor run beside make and minimake on the same trees."""
    size = SIZES[figure]
    # The graph engine_bench builds for the figure. Its declaration order is a topological
    # order; every recipe is one simple command, run in the tree's folder by relative paths.
    graph = dag_gen.independent_tasks(size) if figure == "a" else dag_gen.bench_dag(size, seed=1)
    lines = [" ".join(node.recipe) for node in graph.nodes if not node.phony]
    (work / "commands").write_text("\n".join(lines) + "\n")
    (work / "bare.py").write_text(BARE)
    commands = {
        "make": JOBS2["make"],
        "python+networkx floor": [sys.executable, str(work / "bare.py"), str(work / "commands")],
        "minimake": JOBS2["minimake"],
    }
    figure_of = engine_bench.independent if figure == "a" else engine_bench.full_build
    results = figure_of(work, size, reps, commands)
    return {name: samples for name, samples in results.items() if samples is not None}


def report(figure: str, results: dict[str, list[Sample]]) -> list[str]:
    make = statistics.median(sample.seconds for sample in results["make"])
    lines = [FIGURES[figure], f"  {'':24} {'wall s':>8} {'/ make':>7}   runs"]
    for name, samples in results.items():
        wall = statistics.median(sample.seconds for sample in samples)
        runs = " ".join(f"{sample.seconds:.2f}" for sample in samples)
        lines.append(f"  {name:24} {wall:8.3f} {wall / make:6.2f}x   {runs}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="ad", help="figures: a, d or ad (default ad)")
    parser.add_argument("--reps", type=int, default=5, help="interleaved runs (default 5)")
    options = parser.parse_args(argv)
    if shutil.which("make") is None:
        parser.error("make is not on PATH")
    lines = [f"floor benchmark: medians of {options.reps} interleaved runs, 2 jobs"]
    with tempfile.TemporaryDirectory(prefix="minimake-floor-") as tmp:
        for figure in options.only:
            print(f"{FIGURES[figure]} ...", file=sys.stderr, flush=True)
            lines += ["", *report(figure, measure(figure, options.reps, Path(tmp)))]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
