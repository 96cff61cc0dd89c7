"""100,000 tasks through the real command line: ``-n`` and the null build finish and count
right. Nothing here is timed (bench/engine_bench.py measures); this checks that
nothing breaks or goes quadratic past the sizes the other tests use."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import cli, touch, write_tasks

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
