"""Speed-up of the main job: the hyperparameter search from clean at -j1 and at -jN.

    PYTHONPATH=. python3 bench/speedup.py            # N = os.cpu_count(), the default grid
    python3 bench/speedup.py 2 --grid small          # N = 2, the 5-trial grid
    python3 bench/speedup.py 4 --repeat 3            # best of three runs at each -j

Each run copies the top-level tasks.py into a fresh temporary folder and runs
`python -m minimake -jK GRID=...` there, so nothing is up to date. minimake is imported from
this source tree (the repository root is put on PYTHONPATH), so no install is needed.

Besides the speed-up it prints where each run's time went: start-up (until minimake echoes the
first recipe), the recipes, and the end (from the summary to exit); and the ideal -jN wall that
the job's own shape allows, from the durations the -j1 run recorded in its journal: the serial
steps (preparing the data, collating) plus the trials spread evenly over N cores, or the longest
path if that is longer. What is left between the ideal and the measured wall is the cost of
running N at once: minimake's own, and the machine's (cores sharing caches and memory).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "jobs",
        nargs="?",
        type=int,
        default=os.cpu_count() or 1,
        help="N, the parallel run's -j (default: the number of cores)",
    )
    parser.add_argument("--grid", default="default", help="GRID for tasks.py (default: default)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per -j; the fastest counts")
    return parser.parse_args(argv)


def environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("GRID", "EXTRA")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def build_from_clean(jobs: int, grid: str, scratch: Path) -> tuple[float, Path, Phases]:
    """Wall seconds of one build from an empty folder, that folder, and where the time went."""
    folder = Path(tempfile.mkdtemp(prefix=f"j{jobs}-", dir=scratch))
    shutil.copy(ROOT / "tasks.py", folder / "tasks.py")
    command = [sys.executable, "-m", "minimake", f"-j{jobs}", f"GRID={grid}"]
    started = time.perf_counter()
    lines: list[tuple[float, str]] = []
    with subprocess.Popen(
        command,
        cwd=folder,
        env=environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append((time.perf_counter() - started, line))
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        output = "".join(line for _, line in lines)
        sys.exit(f"speedup: -j{jobs} failed (exit {process.returncode})\n{output}")
    return seconds, folder, _phases(lines, seconds)


Phases = tuple[float, float, float]


def _phases(lines: list[tuple[float, str]], seconds: float) -> Phases:
    """Start-up (to the first echoed recipe), recipes, and the end (summary to exit)."""
    first = lines[0][0] if lines else seconds
    summary = next((at for at, line in lines if line.startswith("Summary:")), seconds)
    return first, summary - first, seconds - summary


def _said(phases: Phases) -> str:
    start, recipes, end = phases
    return f"start-up {start:.2f} s, recipes {recipes:.2f} s, end {end:.2f} s"


def recorded(folder: Path) -> dict[str, float]:
    """Each task's duration, as the run recorded it in its journal (``d`` records)."""
    durations: dict[str, float] = {}
    for line in (folder / ".minimake" / "journal").read_text().splitlines():
        fields = line.split("\t")
        if fields[0] == "d":
            durations[fields[1]] = float(fields[2])
    return durations


def ideal(durations: dict[str, float], jobs: int) -> float:
    """The job's own bound on the -jN recipes' wall: the steps before and after the trials run
    alone, the trials fill ``jobs`` cores evenly, and never faster than the longest trial."""
    trials = [s for name, s in durations.items() if name.startswith("dist/trained/")]
    before = max(
        s for name, s in durations.items() if not name.startswith(("dist/trained/", "dist/results"))
    )
    after = sum(s for name, s in durations.items() if name.startswith("dist/results"))
    return before + max(sum(trials) / jobs, *trials) + after


def warm_up() -> None:
    """Import scikit-learn once, so the first timed run does not pay for a cold disk cache."""
    modules = "sklearn.svm, sklearn.ensemble, sklearn.neural_network, sklearn.datasets"
    subprocess.run([sys.executable, "-c", f"import {modules}"], check=True)


def fit_seconds(folder: Path) -> list[float]:
    """The fit time every trial recorded in its metrics.json."""
    paths = (folder / "dist" / "trained").glob("*/metrics.json")
    return [json.loads(path.read_text())["fit_seconds"] for path in paths]


def main(argv: list[str]) -> int:
    options = parse(argv)
    jobs = max(1, options.jobs)
    warm_up()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="minimake-speedup-") as scratch:
        timings: dict[int, float] = {}
        folders: dict[int, Path] = {}
        phases: dict[int, Phases] = {}
        # Interleaved (-j1, -jN, -j1, -jN...), so a slow spell of a shared machine does not
        # land on one side only; the fastest run of each counts.
        for attempt in range(options.repeat):
            for level in (1, jobs):
                seconds, folder, phase = build_from_clean(level, options.grid, Path(scratch))
                said = _said(phase)
                print(f"  -j{level:<3} run {attempt + 1}: {seconds:7.2f} s  ({said})", flush=True)
                if level not in timings or seconds < timings[level]:
                    timings[level], folders[level], phases[level] = seconds, folder, phase
        fits = {level: fit_seconds(folders[level]) for level in (1, jobs)}
        same = [(folders[k] / "dist/best.json").read_text() for k in (1, jobs)]
        report(options.grid, jobs, timings, fits, same[0] == same[1])
        serial, parallel = recorded(folders[1]), recorded(folders[jobs])
        print(
            f"  ideal -j{jobs} recipes {ideal(serial, jobs):.2f} s from the -j1 durations"
            f" (recipes {sum(serial.values()):.1f} s in all);"
            f" measured -j{jobs}: {_said(phases[jobs])}"
        )
        # Recipes' own durations leave out what comes before a worker's first recipe (its
        # start and the preload() imports): serial at every -j, so part of the job's shape.
        outside = phases[1][1] - sum(serial.values())
        print(
            f"  -j1 recipes' phase outside any recipe {outside:.2f} s (the pool's start and its"
            f" imports, paid once at every -j): with it, the -j{jobs} bound is"
            f" {outside + ideal(serial, jobs):.2f} s"
        )
        # The same bound from the -jN run's own durations: what is left between it and the
        # measured recipes is the runner's (waits between a slot freeing and its next recipe),
        # while the step up from the -j1 bound is the machine's (recipes slower side by side).
        print(
            f"  ideal -j{jobs} recipes {ideal(parallel, jobs):.2f} s from the -j{jobs} run's own"
            f" durations (recipes {sum(parallel.values()):.1f} s in all)"
        )
    # Other work on the machine steals cores from -jN far more than from -j1: say so.
    print(f"  load average    {load_before:.2f} before, {os.getloadavg()[0]:.2f} after", end="")
    print("  (busy machine: figures unreliable)" if load_before > 0.5 else "")
    return 0


def report(
    grid: str, jobs: int, timings: dict[int, float], fits: dict[int, list[float]], same: bool
) -> None:
    serial, parallel = timings[1], timings[jobs]
    speedup = serial / parallel
    print()
    print(f"grid {grid!r}: {len(fits[1])} trials on {os.cpu_count()} cores")
    for level, seconds in fits.items():
        print(
            f"  trial fit time  -j{level:<3} min {min(seconds):.2f} s, median"
            f" {statistics.median(seconds):.2f} s, max {max(seconds):.2f} s,"
            f" total {sum(seconds):.1f} s"
        )
    print(f"  wall -j1        {serial:8.2f} s")
    print(f"  wall -j{jobs:<8} {parallel:8.2f} s")
    print(f"  speed-up        {speedup:8.2f} x")
    print(f"  efficiency      {100 * speedup / jobs:8.1f} %   (speed-up / {jobs} jobs)")
    print(f"  same best.json  {'yes' if same else 'NO'}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
