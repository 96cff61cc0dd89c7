"""Per-task overhead of the Dask executor beside the local process pool.

Builds N independent trivial tasks (`touch out/N`, or a Python recipe with --python) from clean,
at -j2 on both: the process pool, and a loopback LocalCluster of 2 single-thread worker processes
started once beforehand (its start-up is reported apart, not counted per task). Each build is
timed whole through minimake.build (probe, recipe processes, everything), the median of --reps.

    python bench/dask_overhead.py [--tasks 200] [--reps 3] [--python]
"""

from __future__ import annotations

import argparse
import logging
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import minimake  # noqa: E402
from minimake import Task  # noqa: E402


def touch(path: str) -> None:
    Path(path).touch()


def tasks(count: int, python: bool) -> list[Task]:
    made = [
        Task.create(f"out/{i}", recipe=touch, args=(f"out/{i}",))
        if python
        else Task.create(f"out/{i}", recipe=f"touch out/{i}")
        for i in range(count)
    ]
    return [*made, Task.create("all", deps=[t.name for t in made], phony=True)]


def timed(declared: list[Task], reps: int, **options: object) -> float:
    """Median wall seconds of ``reps`` clean builds of ``declared``."""
    samples = []
    for _ in range(reps):
        root = Path(tempfile.mkdtemp(prefix="dask-bench-"))
        (root / "out").mkdir()
        started = time.perf_counter()
        result = minimake.build(declared, ["all"], root=root, jobs=2, **options)  # type: ignore[arg-type]
        samples.append(time.perf_counter() - started)
        assert result.ok, [r for r in result.tasks.values() if r.status is minimake.Status.FAILED]
        shutil.rmtree(root)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--python", action="store_true", help="Python recipes, not shell")
    options = parser.parse_args()

    import distributed

    declared = tasks(options.tasks, options.python)
    started = time.perf_counter()
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
        worker_dashboard_address="127.0.0.1:0",
        silence_logs=logging.ERROR,
    )
    client = distributed.Client(cluster)
    start_up = time.perf_counter() - started
    try:
        timed(
            [*declared[:3], Task.create("all", deps=["out/0", "out/1"], phony=True)],
            1,
            executor=client,
        )  # warm-up: imports on the workers
        pool = timed(declared, options.reps)
        dask = timed(declared, options.reps, executor=client)
    finally:
        client.close()
        cluster.close()

    kind = "python" if options.python else "shell"
    n = options.tasks
    print(f"{n} independent {kind} tasks at -j2, median of {options.reps} clean builds")
    print(f"{'executor':<34} {'build s':>8} {'ms/task':>8}")
    print(f"{'process pool (2 workers)':<34} {pool:>8.2f} {pool / n * 1000:>8.2f}")
    print(f"{'dask LocalCluster (2 procs x 1)':<34} {dask:>8.2f} {dask / n * 1000:>8.2f}")
    print(f"ratio dask / process: {dask / pool:.1f}x")
    print(f"(cluster start-up, not counted above: {start_up:.2f} s)")


if __name__ == "__main__":
    main()
