"""The floor under any Python engine for figures (a) to (d) of engine_bench.py, beside make.

For (a) and (d) the floor is a Python process that imports networkx (the project's graph
library) and then starts every recipe of the same tree at -j2 with nothing else:
`posix_spawn`, a pidfd per recipe in one epoll, no graph, no stat, no journal, no output. It
ignores the DAG's order constraints too, so it is a lower bound. A second line runs it with
the short scheduling slice minimake's own loop asks for (minimake/execution/latency.py). A
third line ("duties") adds, per recipe, the system calls that make makes too (a stat of the
target before, the echo line) and those the issues ask of minimake beside make's: the
journal's three records (started, process group, done: crash safety), the recipe's stdout and
stderr in a capture file of its own (opened per recipe, taken from a pool of files, its size
checked and its lease tested when the recipe ends) and the re-stat of the target after. It runs
no Python beyond those calls: no graph, no decisions, no reporting.

For (b), the null build, and (c), `-n`, of the 10,000-task DAG, the floor imports networkx,
imports the same tasks.py with a `task()` that only keeps its three arguments, stats each
file once and compares mtimes in declaration order (a topological order here); under -n it
prints each stale task's command. No Task values, no graph, no journal, no reasons. A second
line also builds the tasks' graph in networkx, in bulk, which minimake's design needs.

What minimake takes above the floor is its own cost per task; where the floor itself is above
a goal's ratio to make, no Python engine meets that goal on this machine.

    python bench/floor.py                  # (a) 1,000 trivial tasks, (b)-(d) the 10,000-task DAG
    python bench/floor.py --only a --reps 9
    python bench/floor.py --only bc        # the null build and -n
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import engine_bench
from engine_bench import DRY, JOBS2, NULL, Sample, dag_gen

# The whole floor program: a file of command lines in, every line run, two at a time (the
# benchmark's environment, engine_bench.ENV, is every command's, as in engine_bench).
BARE = """\
import contextlib, fcntl, os, select, sys
import networkx
from minimake.execution.latency import short_slice
commands = [line.split() for line in open(sys.argv[1]).read().splitlines()]
env, epoll, running, index = dict(os.environ), select.epoll(), 0, 0
hint = short_slice() if "hint" in sys.argv[2:] else contextlib.nullcontext()
hint.__enter__()
duties = "duties" in sys.argv[2:]
if duties:  # the system calls of the duties below, made by the same loop
    APPEND, MADE = os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC
    os.makedirs(".floor", exist_ok=True)
    journal, null = os.open(".floor/journal", APPEND | os.O_CREAT, 0o644), os.open(os.devnull, 0)
    free, jobs, made = [], {}, 0
def stamp(path):
    try:
        return os.stat(path).st_mtime_ns
    except FileNotFoundError:
        return None
while index < len(commands) or running:
    while running < 2 and index < len(commands):
        words = commands[index]
        if duties:
            target, before = words[-1], stamp(words[-1])  # the decision's stat (make's too)
            os.write(1, (" ".join(words) + "\\n").encode())  # the echo (make's too)
            os.write(journal, f"s\\t{target}\\t{before}\\n".encode())
            if not free:  # capture files are used again from recipe to recipe
                made, path = made + 1, f".floor/{made}.out"
                free.append((path, os.open(path, MADE, 0o600)))
            path, master = free.pop()
            out = os.open(path, APPEND)  # the recipe's stdout and stderr, its own description
            dup = [(os.POSIX_SPAWN_DUP2, null, 0), (os.POSIX_SPAWN_DUP2, out, 1)]
            dup.append((os.POSIX_SPAWN_DUP2, out, 2))
            pid = os.posix_spawnp(words[0], words, env, file_actions=dup, setsid=True)
            os.close(out)
            os.write(journal, f"g\\t{target}\\t{pid}\\n".encode())
        else:
            pid = os.posix_spawnp(words[0], words, env, setsid=True)
        pidfd = os.pidfd_open(pid)
        epoll.register(pidfd, select.EPOLLIN)
        if duties:
            jobs[pidfd] = (target, before, path, master)
        index, running = index + 1, running + 1
    for fd, _ in epoll.poll():
        epoll.unregister(fd)
        os.close(fd)
        os.wait()
        running -= 1
        if duties:
            target, before, path, master = jobs.pop(fd)
            size = os.fstat(master).st_size  # any output to replay
            fcntl.fcntl(master, fcntl.F_SETLEASE, fcntl.F_WRLCK)  # nobody else holds it
            fcntl.fcntl(master, fcntl.F_SETLEASE, fcntl.F_UNLCK)
            if size:
                os.ftruncate(master, 0)
            free.append((path, master))
            after = stamp(target)  # make's restat: was the target remade
            os.write(journal, f"d\\t{target}\\t{after}\\n".encode())
"""

# The floor of a null build and -n: read the tasks, stat, compare (print under -n).
SCAN = """\
import gc, os, sys, types
import networkx
gc.disable()  # minimake pauses the collector while it loads and builds the graph too
declared = []
stand_in = types.ModuleType("minimake")  # what tasks.py imports: task() keeps its arguments
stand_in.task = lambda targets, deps=(), recipe=None, **_: declared.append((targets, deps, recipe))
stand_in.phony = lambda *args, **options: None
sys.modules["minimake"] = stand_in
sys.path.insert(0, os.getcwd())
import tasks  # from its cached bytecode, as minimake imports it
if "graph" in sys.argv:  # the same tasks as a networkx graph, built in bulk
    graph = networkx.DiGraph()
    graph.add_nodes_from(target for target, _, _ in declared)
    graph.add_edges_from((dep, target) for target, deps, _ in declared for dep in deps)
mtimes, stale, dry = {}, set(), "-n" in sys.argv
def mtime(path):
    if path not in mtimes:
        try:
            mtimes[path] = os.stat(path).st_mtime_ns
        except FileNotFoundError:
            mtimes[path] = None
    return mtimes[path]
for target, deps, recipe in declared:
    built = mtime(target)
    if built is None or any(dep in stale or (mtime(dep) or 0) > built for dep in deps):
        stale.add(target)
        if dry:
            print(recipe)
print(f"{len(stale)} stale" if stale else "Nothing to be done for 'all'.")
"""

FIGURES = {
    "a": "(a) 1,000 independent `touch out/N`, -j2",
    "b": "(b) null build, 10,000-task random DAG",
    "c": "(c) -n, 10,000-task random DAG, every task stale",
    "d": "(d) 10,000-task random DAG from clean, -j2",
}
SIZES = {"a": 1_000, "d": 10_000}
FLOOR = "python+networkx floor"
GRAPHED = "floor + networkx graph"  # (b), (c): and the graph networkx holds for minimake
HINTED = "floor, short slice"  # the same with latency.short_slice, as minimake runs recipes
DUTIES = "short slice + duties"  # and the system calls the issues ask for beside make's


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
        FLOOR: [sys.executable, str(work / "bare.py"), str(work / "commands")],
        HINTED: [sys.executable, str(work / "bare.py"), str(work / "commands"), "hint"],
        DUTIES: [sys.executable, str(work / "bare.py"), str(work / "commands"), "hint", "duties"],
        "minimake": JOBS2["minimake"],
    }
    figure_of = engine_bench.independent if figure == "a" else engine_bench.full_build
    results = figure_of(work, size, reps, commands)
    return {name: samples for name, samples in results.items() if samples is not None}


def measure_scans(reps: int, work: Path) -> dict[str, dict[str, list[Sample]]]:
    """engine_bench's (b) and (c), with the scan floor beside make and minimake."""
    (work / "scan.py").write_text(SCAN)
    scan = [sys.executable, str(work / "scan.py")]
    graphed = [*scan, "graph"]
    null = {"make": NULL["make"], FLOOR: scan, GRAPHED: graphed, "minimake": NULL["minimake"]}
    dry = {
        "make": DRY["make"],
        FLOOR: [*scan, "-n"],
        GRAPHED: [*graphed, "-n"],
        "minimake": DRY["minimake"],
    }
    b, c = engine_bench.null_and_dry_run(work, 10_000, reps, null, dry, _say)
    return {
        figure: {n: s for n, s in results.items() if s is not None}
        for figure, results in (("b", b), ("c", c))
    }


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


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
    parser.add_argument("--only", default="abcd", help="figures, of abcd (default all)")
    parser.add_argument("--reps", type=int, default=5, help="interleaved runs (default 5)")
    options = parser.parse_args(argv)
    if shutil.which("make") is None:
        parser.error("make is not on PATH")
    lines = [f"floor benchmark: medians of {options.reps} interleaved runs, 2 jobs"]
    with tempfile.TemporaryDirectory(prefix="minimake-floor-") as tmp:
        scans = {}
        if "b" in options.only or "c" in options.only:
            _say("(b) and (c) null build and -n of the 10,000-task DAG ...")
            scans = measure_scans(options.reps, Path(tmp))
        for figure in options.only:
            if figure in scans:
                lines += ["", *report(figure, scans[figure])]
                continue
            _say(f"{FIGURES[figure]} ...")
            lines += ["", *report(figure, measure(figure, options.reps, Path(tmp)))]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
