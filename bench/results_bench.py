"""How long `minimake --results` takes over many recorded trials.

Two folders of N trials (default 10,000), each trial's record written into the journal as a
finished run would write it (params, metrics, status, duration, end):

  recorded  the trials are no longer declared (an empty tasks.py): `--results=all` reads them
            from the journal alone;
  declared  the trials are declared in tasks.py, their targets on disk: `--results` also runs
            the dry run that says which are up to date.

Each figure is the median wall and CPU time (user + system) of whole `python -m minimake`
processes (start-up and the tasks file's import included), beside `--version` for the fixed
cost of starting at all; on a loaded machine read the CPU time.

    python bench/results_bench.py            # 10,000 trials, 3 repetitions
    python bench/results_bench.py 50000 5
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from minimake.journal import Journal  # noqa: E402
from minimake.results import SUCCEEDED, Trial  # noqa: E402

ENV = dict(os.environ, PYTHONPATH=str(REPO), MINIMAKE_PROGRESS="off")

DECLARED = """\
from minimake import task
for n in range({count}):
    task(f"t/{{n}}.json", recipe="true", params={{"lr": 10.0 ** -(n % 7), "depth": n % 13,
         "seed": n}}, metrics=f"t/{{n}}.json")
"""


def _record(folder: str, count: int) -> None:
    journal = Journal(folder, writable=True)
    for n in range(count):
        params = (("depth", n % 13), ("lr", 10.0 ** -(n % 7)), ("seed", n))
        metrics = (("loss", 1.0 / (n + 1)), ("val_score", (n % 97) / 97))
        journal.recorded(Trial(f"t/{n}.json", SUCCEEDED, 0.5, time.time(), params, metrics))
    journal.close()


def _timed(args: list[str], folder: str, reps: int) -> str:
    """Median wall and CPU seconds of ``reps`` runs (CPU: a loaded machine stretches wall)."""
    seconds, cpu = [], []
    for _ in range(reps):
        used = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "minimake", *args],
            cwd=folder,
            env=ENV,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            check=False,
        )
        seconds.append(time.perf_counter() - start)
        now = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(now.ru_utime - used.ru_utime + now.ru_stime - used.ru_stime)
        if done.returncode != 0:
            raise SystemExit(f"minimake {' '.join(args)} failed: {done.stderr.decode()}")
    return f"{statistics.median(seconds):6.3f} s wall {statistics.median(cpu):6.3f} s CPU"


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    reps = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    with tempfile.TemporaryDirectory() as recorded, tempfile.TemporaryDirectory() as declared:
        Path(recorded, "tasks.py").write_text("")
        _record(recorded, count)
        Path(declared, "tasks.py").write_text(DECLARED.format(count=count))
        os.mkdir(os.path.join(declared, "t"))
        for n in range(count):
            Path(declared, "t", f"{n}.json").write_text("{}")
        _record(declared, count)
        size = os.path.getsize(os.path.join(recorded, ".minimake", "journal"))
        print(f"{count} recorded trials, journal {size / 1e6:.1f} MB; medians of {reps} runs")
        print(f"  --version                      {_timed(['--version'], recorded, reps)}")
        figure = _timed(["--results=all"], recorded, reps)
        print(f"  --results=all, none declared   {figure}")
        figure = _timed(["--results", "--sort", "val_score"], declared, reps)
        print(f"  --results --sort, all declared {figure}  (a dry run of {count} tasks)")
        figure = _timed(["-n"], declared, reps)
        print(f"  -n, all declared               {figure}  (the dry run alone)")


if __name__ == "__main__":
    main()
