"""What one dying Python recipe costs the recipes running beside it.

    python3 bench/bystander.py                       # this source tree
    PYTHONPATH=/tmp/before python3 bench/bystander.py   # another checkout of minimake
    python3 bench/bystander.py --seconds 5 --reps 3

At -j4 -k, three Python recipes sleep ``--seconds`` each, and a fourth dies (os._exit) one
second in. Each recipe appends its name to a start log as it begins. Printed: the wall time
of the whole build (the median of ``--reps``) and how many times each long recipe started. A
pool that loses every recipe when one worker dies starts them twice and ends about a second
later; one that isolates its workers starts each once and ends at ``--seconds``.
"""

from __future__ import annotations

import argparse
import collections
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

TASKS = """
import os, time
from minimake import phony, task

def long(name, seconds):
    with open("starts.log", "a") as log:
        log.write(name + "\\n")
    time.sleep(seconds)
    open(name, "w").close()

def dying():
    with open("starts.log", "a") as log:
        log.write("dies\\n")
    time.sleep(1)
    os._exit(7)

for n in range(3):
    task(f"long{n}", recipe=long, args=(f"long{n}", SECONDS))
task("dies", recipe=dying)
phony("all", deps=["long0", "long1", "long2", "dies"], default=True)
"""


def once(seconds: float) -> tuple[float, dict[str, int]]:
    """One build from clean: its wall time, and the starts per recipe."""
    with tempfile.TemporaryDirectory() as folder:
        tasks = TASKS.replace("SECONDS", repr(seconds))
        Path(folder, "tasks.py").write_text(textwrap.dedent(tasks))
        env = dict(os.environ)
        env["PYTHONPATH"] = env.get("PYTHONPATH") or str(ROOT)
        command = [sys.executable, "-m", "minimake", "-j4", "-k", "--progress", "off"]
        began = time.perf_counter()
        run = subprocess.run(
            command, check=False, cwd=folder, env=env, capture_output=True, text=True
        )
        wall = time.perf_counter() - began
        if run.returncode != 2 or "dies] Worker process died" not in run.stderr:
            sys.exit(f"unexpected result ({run.returncode}):\n{run.stderr}")
        starts = collections.Counter(Path(folder, "starts.log").read_text().split())
        return wall, dict(sorted(starts.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="each long recipe's sleep")
    parser.add_argument("--reps", type=int, default=3, help="builds; the median wall counts")
    args = parser.parse_args()
    runs = [once(args.seconds) for _ in range(args.reps)]
    walls = [wall for wall, _ in runs]
    source = os.environ.get("PYTHONPATH") or str(ROOT)
    print(f"minimake from {source}: -j4 -k, 3 recipes of {args.seconds:g}s, one dies at 1s")
    print(f"wall: median {statistics.median(walls):.2f}s of {[round(w, 2) for w in walls]}")
    print(f"starts per recipe (last run): {runs[-1][1]}")


if __name__ == "__main__":
    main()
