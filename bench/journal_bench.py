"""Benchmark what the build journal buys and costs, beside GNU make (and ninja).

  (lpt)   12 tasks of `sleep 0.5` declared before one of `sleep 3`, at -j2, every task run each
          time: make and ninja start them in declaration order (the long one last, ~6 s);
          minimake's first run has no journal and does the same, its second run knows the
          durations and starts the long one first (ideal: 4.5 s).
  (null)  the null build of a 10,000-task random DAG (the one of engine_bench.py), minimake
          with --no-journal, with a journal holding a record for every task, and with that
          journal and --rerun-triggers mtime,recipe (every task's signature computed and
          compared); make beside them.
  (prio)  graph.priorities on a 100,000-task random DAG, in process: by chain length (no
          journal) and weighted by recorded durations (half the tasks known).

Whole processes are timed (wall clock, perf_counter); medians of --reps. See bench/README.md.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO))
import dag_gen  # noqa: E402

# Python's default is to cache compiled modules; a shell that sets PYTHONDONTWRITEBYTECODE makes
# every run compile minimake again, which engine_bench.py leaves out too.
_DROPPED = {"MAKEFLAGS", "MFLAGS", "MAKELEVEL", "PYTHONDONTWRITEBYTECODE"}
ENV = {k: v for k, v in os.environ.items() if k not in _DROPPED}
ENV["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
ENV["MINIMAKE_PROGRESS"] = "off"


def timed(command: list[str], cwd: Path, expect: str | None = None) -> float:
    """Seconds ``command`` took in ``cwd``; exits when it fails or ``expect`` is not said."""
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=ENV, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0 or (expect is not None and expect not in done.stdout + done.stderr):
        raise SystemExit(
            f"{command} in {cwd} exited {done.returncode}:\n{done.stdout[-2000:]}"
            f"\n{done.stderr[-2000:]}"
        )
    return seconds


def minimake(*args: str) -> list[str]:
    return [sys.executable, "-m", "minimake", *args]


# --------------------------------------------------------------------------------------------
# (lpt)

SHORT, LONG, N_SHORT = 0.5, 3.0, 12


def lpt_files(root: Path) -> None:
    names = [f"short{i}" for i in range(N_SHORT)]
    tasks = ["from minimake import phony", ""]
    tasks += [f'phony("{name}", recipe="sleep {SHORT}")' for name in names]
    tasks += [f'phony("long", recipe="sleep {LONG}")']
    tasks += [f"phony('all', deps={[*names, 'long']!r}, default=True)", ""]
    (root / "tasks.py").write_text("\n".join(tasks))
    rules = [f".PHONY: all {' '.join(names)} long", f"all: {' '.join(names)} long", ""]
    rules += [f"{name}:\n\tsleep {SHORT}\n" for name in names]
    rules += [f"long:\n\tsleep {LONG}\n"]
    (root / "Makefile").write_text("\n".join(rules))
    ninja = ["rule sleep", "  command = sleep $secs && touch $out", ""]
    ninja += [f"build {name}: sleep\n  secs = {SHORT}" for name in names]
    ninja += [f"build long: sleep\n  secs = {LONG}", f"build all: phony {' '.join(names)} long"]
    ninja += ["default all", ""]
    (root / "build.ninja").write_text("\n".join(ninja))


def lpt(work: Path, reps: int, tools: list[str]) -> list[str]:
    figures: dict[str, list[float]] = {"make": [], "ninja": [], "first": [], "second": []}
    for rep in range(reps):
        root = work / f"lpt-{rep}"
        root.mkdir()
        lpt_files(root)
        if "make" in tools:
            figures["make"].append(timed(["make", "-j2"], root))
        if "ninja" in tools:
            # ninja's second run (its log filled) reruns everything only when told: -t clean.
            timed(["ninja", "-j2"], root)
            timed(["ninja", "-t", "clean"], root)
            figures["ninja"].append(timed(["ninja", "-j2"], root))
        figures["first"].append(timed(minimake("-j2"), root))
        figures["second"].append(timed(minimake("-j2"), root))
    second = statistics.median(figures["second"])
    lines = [f"(lpt) 12 x sleep {SHORT} then 1 x sleep {LONG}, -j2 (ideal 4.5 s, make order 6.0 s)"]
    lines.append(f"  {'run':<38} {'wall s':>8} {'minimake 2nd/it':>16}")
    rows = [
        ("make -j2", "make"),
        ("ninja -j2 (second run, log filled)", "ninja"),
        ("minimake -j2, first run (no journal)", "first"),
        ("minimake -j2, second run (journal)", "second"),
    ]
    for label, key in rows:
        if figures[key]:
            wall = statistics.median(figures[key])
            ratio = f"{second / wall:.2f}" if key != "second" else ""
            lines.append(f"  {label:<38} {wall:>8.3f} {ratio:>16}")
    return lines


# --------------------------------------------------------------------------------------------
# (null)


def synthesize_journal(root: Path) -> int:
    """Fill .minimake/journal as a full build of the tree would: a duration and a recipe
    signature per task (a real full build of 10,000 recipes is another benchmark's job)."""
    from minimake.journal import Journal
    from minimake.load import load_tasks
    from minimake.signature import of

    journal = Journal(str(root), writable=True)
    tasks = load_tasks(root / "tasks.py")
    rng = random.Random(0)
    for declared in tasks:
        signature = of(declared)
        journal.finished(declared.name, rng.uniform(0.001, 0.01), signature and signature.dumps())
    journal.close()
    return len(tasks)


def null_build(work: Path, n_tasks: int, reps: int, tools: list[str]) -> list[str]:
    graph = dag_gen.bench_dag(n_tasks, seed=1)
    root = work / "null"
    dag_gen.write_build_files(graph, root, loop=True)
    dag_gen.built_state(graph).write(root)
    nothing = "Nothing to be done"
    runs = {
        "minimake --no-journal": minimake("--no-journal"),
        "minimake (journal)": minimake(),
        "minimake --rerun-triggers mtime,recipe": minimake("--rerun-triggers", "mtime,recipe"),
    }
    if "make" in tools:
        runs["make"] = ["make"]
    records = synthesize_journal(root)
    size = (root / ".minimake" / "journal").stat().st_size
    # Interleaved, so that the machine's load drifts over every variant alike.
    figures: dict[str, list[float]] = {label: [] for label in runs}
    for _ in range(reps):
        for label, command in runs.items():
            figures[label].append(timed(command, root, nothing))
    opened = _journal_open_seconds(root, reps)
    after = (root / ".minimake" / "journal").stat().st_size
    base = statistics.median(figures["minimake --no-journal"])
    lines = [
        f"(null) null build, {n_tasks}-task random DAG; journal: {records} records, "
        f"{size / 1024:.0f} KiB (after the runs: {after / 1024:.0f} KiB)",
        f"  {'run':<40} {'wall s':>8} {'/ --no-journal':>15}",
    ]
    for label, samples in figures.items():
        wall = statistics.median(samples)
        lines.append(f"  {label:<40} {wall:>8.3f} {wall / base:>15.3f}")
    lines.append(f"  in process: reading the journal {opened * 1000:.1f} ms")
    shutil.rmtree(root)
    return lines


def _journal_open_seconds(root: Path, reps: int) -> float:
    from minimake.journal import Journal

    samples = []
    for _ in range(reps):
        started = time.perf_counter()
        Journal(str(root), writable=False)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


# --------------------------------------------------------------------------------------------
# (prio)


def prio(n_tasks: int, reps: int) -> list[str]:
    from minimake.graph import build_graph, priorities
    from minimake.task import Task

    rng = random.Random(1)
    declared = []
    for index in range(n_tasks):
        deps = [f"t{rng.randrange(index)}" for _ in range(rng.randint(1, 3))] if index else []
        declared.append(Task(targets=f"t{index}", deps=deps, recipe="x"))
    graph = build_graph(declared)
    selected = set(graph.tasks)
    known = {f"t{index}": rng.random() for index in range(0, n_tasks, 2)}
    lines = [
        f"(prio) graph.priorities, {n_tasks}-task random DAG ({graph.dag.number_of_edges()} "
        "edges), in process",
        f"  {'weights':<40} {'s':>8}",
    ]
    for label, durations in (("chain length (no journal)", {}), ("recorded durations", known)):
        samples = []
        for _ in range(reps):
            started = time.perf_counter()
            priorities(graph, selected, durations)
            samples.append(time.perf_counter() - started)
        lines.append(f"  {label:<40} {statistics.median(samples):>8.3f}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=5, help="repetitions per figure")
    parser.add_argument("--tasks", type=int, default=10_000, help="tasks of the null build")
    parser.add_argument("--only", default="lpt,null,prio", help="which figures")
    options = parser.parse_args(argv)
    tools = [tool for tool in ("make", "ninja") if shutil.which(tool)]
    only = options.only.split(",")
    lines = [
        f"minimake journal benchmark (medians of {options.reps}; {os.cpu_count()} CPUs; "
        f"Python {sys.version.split()[0]}; {', '.join(tools) or 'no make'} beside it)",
        "",
    ]
    with tempfile.TemporaryDirectory(prefix="minimake-journal-bench-") as tmp:
        work = Path(tmp)
        if "lpt" in only:
            lines += [*lpt(work, options.reps, tools), ""]
        if "null" in only:
            lines += [*null_build(work, options.tasks, options.reps, tools), ""]
        if "prio" in only:
            lines += [*prio(10 * options.tasks, options.reps), ""]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
