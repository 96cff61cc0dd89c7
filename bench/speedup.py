"""Speed-up of the main job: the hyperparameter search from clean at -j1 and at -jN.

    PYTHONPATH=. python3 bench/speedup.py            # N = os.cpu_count(), the default grid
    python3 bench/speedup.py 2 --grid small          # N = 2, the 5-trial grid
    python3 bench/speedup.py 4 --repeat 3            # best of three runs at each -j

Each run copies the top-level tasks.py into a fresh temporary folder and runs
`python -m minimake -jK GRID=...` there, so nothing is up to date. minimake is imported from
this source tree (the repository root is put on PYTHONPATH), so no install is needed.
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


def build_from_clean(jobs: int, grid: str, scratch: Path) -> tuple[float, Path]:
    """Wall seconds of one build from an empty folder, and that folder."""
    folder = Path(tempfile.mkdtemp(prefix=f"j{jobs}-", dir=scratch))
    shutil.copy(ROOT / "tasks.py", folder / "tasks.py")
    command = [sys.executable, "-m", "minimake", f"-j{jobs}", f"GRID={grid}"]
    started = time.perf_counter()
    done = subprocess.run(
        command, cwd=folder, env=environment(), capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"speedup: -j{jobs} failed (exit {done.returncode})\n{done.stdout}{done.stderr}")
    return seconds, folder


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
        # Interleaved (-j1, -jN, -j1, -jN...), so a slow spell of a shared machine does not
        # land on one side only; the fastest run of each counts.
        for attempt in range(options.repeat):
            for level in (1, jobs):
                seconds, folder = build_from_clean(level, options.grid, Path(scratch))
                print(f"  -j{level:<3} run {attempt + 1}: {seconds:7.2f} s", flush=True)
                if level not in timings or seconds < timings[level]:
                    timings[level], folders[level] = seconds, folder
        fits = {level: fit_seconds(folders[level]) for level in (1, jobs)}
        same = [(folders[k] / "dist/best.json").read_text() for k in (1, jobs)]
        report(options.grid, jobs, timings, fits, same[0] == same[1])
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
