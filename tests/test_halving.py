"""The main job's successive-halving search (SEARCH=halving): scikit-learn's schedule, rounds
that are ordinary tasks, and -n before the rounds are known."""

from __future__ import annotations

import csv
import json
import shutil
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, cli

pytest.importorskip("sklearn")


def load_main_job():  # type: ignore[no-untyped-def]
    """The main job's module, imported as minimake imports it."""
    from minimake.load import load_tasks

    path = str((REPO / "tasks.py").resolve())
    load_tasks(path)
    return next(
        module
        for name, module in sys.modules.items()
        if name.startswith("_minimake_tasks_") and getattr(module, "__file__", None) == path
    )


def test_the_schedule_is_scikit_learns() -> None:
    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn.experimental import enable_halving_search_cv  # noqa: F401
    from sklearn.model_selection import HalvingGridSearchCV, PredefinedSplit
    from sklearn.tree import DecisionTreeClassifier

    x, y = load_digits(return_X_y=True)
    fold = np.where(np.arange(len(y)) < 1400, -1, 0)
    grid = {"max_depth": [2, 3, 4, 5, 6, 7], "min_samples_leaf": [1, 2]}
    search = HalvingGridSearchCV(
        DecisionTreeClassifier(random_state=0), grid, factor=3, cv=PredefinedSplit(fold)
    ).fit(x, y)
    schedule = load_main_job().halving_schedule(12, len(y), 3, "exhaust", 10)
    assert [samples for samples, _ in schedule] == search.n_resources_ == [199, 597, 1791]
    assert [count for _, count in schedule] == search.n_candidates_


def test_halving_on_the_small_grid(tmp_path: Path) -> None:
    shutil.copy(REPO / "tasks.py", tmp_path / "tasks.py")
    words = ["SEARCH=halving", "GRID=small"]
    dry = cli("-n", *words, cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert "minimake: tasks declared by halving_round1 (tasks.py:" in dry.stdout
    built = cli("-j2", *words, cwd=tmp_path, timeout=600)
    assert built.returncode == 0, built.stderr
    best = json.loads((tmp_path / "dist/best.json").read_text())
    with open(tmp_path / "dist/halving/rounds.csv") as file:
        rounds = list(csv.DictReader(file))
    assert [int(row["candidates"]) for row in rounds] == [5, 2]
    assert best["rounds"] == [[int(r["samples"]), int(r["candidates"])] for r in rounds]
    assert best["id"] in rounds[-1]["kept"]
    again = cli("-n", *words, cwd=tmp_path)
    assert "Nothing to be done for 'all'" in again.stdout
