"""minimake as a library: declare tasks in code, build them twice, and read the results.

    PYTHONPATH=<repo> python3 build.py          # build twice, print what happened
    PYTHONPATH=<repo> python3 build.py clean    # remove out/

The first build runs everything (two jobs at a time), the second finds everything up to date.
Outputs go to out/ beside this file.
"""

from __future__ import annotations

import json
import math
import shutil
import sys
from pathlib import Path

import minimake
from minimake import Task

HERE = Path(__file__).resolve().parent
NUMBERS = range(1, 7)


# Python recipes must be module-level functions: the process pool pickles them by name, so a
# worker finds them by importing this module. Recipes run with `root` as working directory.
def count_primes(limit: int, out: str) -> None:
    """Count the primes below ``limit`` by trial division (deliberately a little slow)."""
    primes = sum(1 for n in range(2, limit) if all(n % d for d in range(2, math.isqrt(n) + 1)))
    Path(out).write_text(f"{primes}\n")


def total(parts: list[str], out: str) -> None:
    """Gather: sum the counts into one JSON file."""
    counts = {part: int(Path(part).read_text()) for part in parts}
    Path(out).write_text(json.dumps({"counts": counts, "total": sum(counts.values())}, indent=2))


def make_tasks() -> list[Task]:
    """The graph: out/ (a folder), one count per number (the scatter), a total (the gather)."""
    parts = [f"out/primes-{n}.txt" for n in NUMBERS]
    tasks = [Task.create("out", recipe="mkdir -p out")]
    tasks += [
        Task.create(part, recipe=count_primes, args=(n * 20_000, part), order_only=["out"])
        for n, part in zip(NUMBERS, parts, strict=True)
    ]
    summary = "out/total.json"
    tasks.append(Task.create(summary, deps=parts, recipe=total, args=(parts, summary)))
    tasks.append(Task.create("all", deps=[summary], phony=True, default=True))
    return tasks


def report(title: str, result: minimake.BuildResult) -> None:
    """One line per task: its status, why it ran, and how long it took."""
    print(f"{title}: ok={result.ok} in {result.seconds:.2f}s")
    for name, outcome in result.tasks.items():
        reason = outcome.reason or ""  # None for a task that was up to date
        print(f"  {name:<20} {outcome.status.value:<11} {outcome.seconds:6.3f}s  {reason}")


def main(argv: list[str]) -> int:
    if argv == ["clean"]:
        shutil.rmtree(HERE / "out", ignore_errors=True)
        return 0
    tasks = make_tasks()
    first = minimake.build(tasks, jobs=2, root=HERE)
    report("first build", first)
    ran = [r for r in first.with_status(minimake.Status.RAN) if r.has_recipe]
    print(f"  ran {len(ran)} recipes, {sum(r.seconds for r in ran):.2f}s of work")
    # The reporter prints make's messages (recipe echo lines, errors); without one, build()
    # is silent and everything is in the returned result.
    second = minimake.build(tasks, jobs=2, root=HERE, reporter=minimake.ConsoleReporter())
    report("second build", second)
    print(json.loads((HERE / "out/total.json").read_text())["total"], "primes in all")
    up_to_date = all(
        r.status is minimake.Status.UP_TO_DATE for r in second.tasks.values() if r.has_recipe
    )
    return 0 if first.ok and second.ok and up_to_date else 1


# The guard matters: with the "spawn" or "forkserver" start methods, each pool worker imports
# this file, and must not start a build of its own.
if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
