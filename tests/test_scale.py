"""100,000 tasks through the real command line: ``-n`` and the null build finish and count
right. Nothing here is timed (bench/engine_bench.py measures); this checks that
nothing breaks or goes quadratic past the sizes the other tests use."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import cli, needs_make, touch, write_tasks

sys.path.insert(0, str(Path(__file__).parent))
import dag_gen

N = 100_000

# A table and a loop, as a sweep over many samples is written; 100 folders of 1,000 outputs.
TASKS = f"""
from minimake import phony, task

SAMPLES = [(f"out/{{i // 1000}}/s{{i}}", i % 7) for i in range({N})]
for path, seed in SAMPLES:
    task(path, deps=["data.txt"], recipe=f"touch {{path}}", doc=f"sample with seed {{seed}}")
phony("all", deps=[path for path, _ in SAMPLES], default=True)
"""

pytestmark = pytest.mark.scale


def test_dry_run_and_null_build_of_100000_tasks(tmp_path: Path) -> None:
    write_tasks(tmp_path, TASKS)
    touch(tmp_path / "data.txt", 0)

    dry = cli("-n", "--progress", "plain", cwd=tmp_path, timeout=300)
    assert dry.returncode == 0, dry.stderr[-2000:]
    echoed = dry.stdout.splitlines()
    assert len(echoed) == N
    assert echoed[0] == "touch out/0/s0"
    assert echoed[-1] == f"touch out/99/s{N - 1}"
    summary = dry.stderr.splitlines()[-1]
    assert summary.startswith(f"Summary: {N} would run, 0 up to date, 0 failed, 0 skipped in ")
    assert not (tmp_path / "out").exists()  # -n wrote nothing

    for folder in range(N // 1000):
        (tmp_path / "out" / str(folder)).mkdir(parents=True)
    for index in range(N):  # each output newer than data.txt: all up to date
        os.close(os.open(tmp_path / "out" / str(index // 1000) / f"s{index}", os.O_CREAT))

    null = cli("--json", "--progress", "plain", cwd=tmp_path, timeout=300)
    assert null.returncode == 0, null.stderr[-2000:]
    document = json.loads(null.stdout)
    assert document["ok"]
    assert document["counts"]["up_to_date"] == N
    assert document["counts"]["ran"] == 0
    assert len(document["tasks"]) == N + 1
    assert "minimake: Nothing to be done for 'all'." in null.stderr


@needs_make
def test_dry_run_of_20000_random_tasks_is_makes_script_line_for_line(tmp_path: Path) -> None:
    """With one job minimake runs the recipes in make's order: on a random 20,000-task graph
    (1 to 3 deps each, 6,781 sinks under one goal) `-n` prints what `make -n` prints, in the
    same order."""
    graph = dag_gen.bench_dag(20_000, seed=3)
    dag_gen.write_build_files(graph, tmp_path)
    dag_gen.clean_state(graph).write(tmp_path)
    make = shutil.which("make")
    assert make is not None
    theirs = subprocess.run(
        [make, "-n", "all"], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    ours = cli("-n", "all", "--progress", "off", cwd=tmp_path, timeout=300)
    assert ours.returncode == 0, ours.stderr[-2000:]
    assert len(theirs.stdout.splitlines()) == 20_000
    assert ours.stdout == theirs.stdout
