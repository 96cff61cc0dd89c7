"""End to end: the hyperparameter search in the top-level tasks.py, run through the real CLI.

Every test works on a copy of one finished small-grid build (a module fixture), so it pays only
for the incremental run it is about. Which trials retrained is read from the mtimes of their
metrics.json files, which a rerun always replaces.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("sklearn")
pytest.importorskip("threadpoolctl")

ROOT = Path(__file__).resolve().parents[1]
NOTHING_TO_DO = "minimake: Nothing to be done for 'all'."
# The small grid as tasks.py writes it; the tests edit these lines as a user would.
SVC_LINE = '"svc": {"C": [1.0, 10.0], "gamma": [0.005, "scale"]},'
HGB_LINE = '"hgb": {"learning_rate": [0.1], "max_leaf_nodes": [15], "max_iter": [20]},'


def minimake(project: Path, *args: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
    """Run `python -m minimake -j2 ... GRID=small` in ``project`` from the source tree."""
    env = {k: v for k, v in os.environ.items() if k not in ("GRID", "EXTRA")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "minimake", "-j2", *args]
    if not any(arg.startswith("GRID=") for arg in args):
        command.append("GRID=small")
    done = subprocess.run(
        command, cwd=project, env=env, capture_output=True, text=True, timeout=180, check=False
    )
    assert done.returncode == expect, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


def metrics_mtimes(project: Path) -> dict[str, int]:
    """Each trial that has a metrics.json, with that file's mtime in ns."""
    found = (project / "dist" / "trained").glob("*/metrics.json")
    return {path.parent.name: path.stat().st_mtime_ns for path in found}


def retrained(before: dict[str, int], after: dict[str, int]) -> set[str]:
    """The trials whose metrics are new or were rewritten."""
    return {trial for trial, mtime in after.items() if before.get(trial) != mtime}


def echoed_trials(output: str) -> set[str]:
    """The trials whose recipe the run echoed: `train_trial('svc-...', {...})`."""
    return set(re.findall(r"^train_trial\('([\w-]+)'", output, flags=re.MULTILINE))


def grid_ids(project: Path) -> list[str]:
    return [entry["id"] for entry in json.loads((project / "dist/hparams.json").read_text())]


def result_ids(project: Path) -> list[str]:
    """The trial ids in dist/results.csv, in rank order."""
    with (project / "dist/results.csv").open(newline="") as handle:
        return [row["id"] for row in csv.DictReader(handle)]


def edit_tasks(project: Path, old: str, new: str) -> None:
    path = project / "tasks.py"
    text = path.read_text()
    assert old in text, f"tasks.py no longer contains {old!r}; update the test"
    path.write_text(text.replace(old, new))


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished small-grid build; tests copy it, never change it."""
    project = tmp_path_factory.mktemp("built")
    shutil.copy(ROOT / "tasks.py", project / "tasks.py")
    minimake(project)
    return project


@pytest.fixture
def project(built: Path, tmp_path: Path) -> Path:
    """A private copy of the finished build, with every mtime kept (copy2)."""
    return Path(shutil.copytree(built, tmp_path / "project"))


def test_small_grid_trains_every_trial_and_collates(built: Path) -> None:
    """One metrics file per configuration; results and best agree with them."""
    ids = grid_ids(built)
    assert len(ids) == 5
    assert len(set(ids)) == 5
    assert set(metrics_mtimes(built)) == set(ids)
    assert sorted(result_ids(built)) == sorted(ids)
    best = json.loads((built / "dist/best.json").read_text())
    scores = {
        trial: json.loads((built / f"dist/trained/{trial}/metrics.json").read_text())
        for trial in ids
    }
    assert best["val_accuracy"] == max(m["val_accuracy"] for m in scores.values())
    assert best["config"] == scores[best["id"]]["config"]
    assert 0.9 < best["test_accuracy"] <= 1.0
    assert result_ids(built)[0] == best["id"]


def test_finished_build_has_nothing_to_do(project: Path) -> None:
    before = metrics_mtimes(project)
    assert NOTHING_TO_DO in minimake(project, "-n").stdout
    assert NOTHING_TO_DO in minimake(project).stdout
    assert metrics_mtimes(project) == before


def test_editing_tasks_py_without_changing_the_grid_retrains_nothing(project: Path) -> None:
    """hparams.json is compared by content, so a newer tasks.py alone is no reason to run."""
    future = (project / "dist/results.csv").stat().st_mtime + 3600
    os.utime(project / "tasks.py", (future, future))
    assert NOTHING_TO_DO in minimake(project, "-n").stdout


def test_growing_the_grid_trains_only_the_new_configurations(project: Path) -> None:
    old_ids = set(grid_ids(project))
    before = metrics_mtimes(project)
    edit_tasks(project, SVC_LINE, SVC_LINE.replace("[1.0, 10.0]", "[1.0, 10.0, 100.0]"))
    done = minimake(project)
    new_ids = set(grid_ids(project)) - old_ids
    assert len(new_ids) == 2  # C=100 with each gamma
    assert retrained(before, metrics_mtimes(project)) == new_ids
    assert echoed_trials(done.stdout) == new_ids
    assert sorted(result_ids(project)) == sorted(old_ids | new_ids)


def test_changing_one_value_trains_only_that_configuration(project: Path) -> None:
    old_ids = set(grid_ids(project))
    before = metrics_mtimes(project)
    changed_line = HGB_LINE.replace('"learning_rate": [0.1]', '"learning_rate": [0.2]')
    edit_tasks(project, HGB_LINE, changed_line)
    minimake(project)
    ids = set(grid_ids(project))
    (changed,) = ids - old_ids
    (replaced,) = old_ids - ids
    assert changed.startswith("hgb-")
    assert replaced.startswith("hgb-")
    assert retrained(before, metrics_mtimes(project)) == {changed}
    assert sorted(result_ids(project)) == sorted(ids)


def test_collate_reflects_the_current_grid_after_shrinking(project: Path) -> None:
    """Removing configurations trains nothing, yet results and best follow the grid."""
    before = metrics_mtimes(project)
    results_before = (project / "dist/results.csv").stat().st_mtime_ns
    shrunk_line = SVC_LINE.replace('"gamma": [0.005, "scale"]', '"gamma": [0.005]')
    edit_tasks(project, SVC_LINE, shrunk_line)
    minimake(project)
    ids = grid_ids(project)
    assert len(ids) == 3
    assert retrained(before, metrics_mtimes(project)) == set()
    assert (project / "dist/results.csv").stat().st_mtime_ns != results_before
    assert sorted(result_ids(project)) == sorted(ids)
    best = json.loads((project / "dist/best.json").read_text())
    assert best["id"] in ids
    assert best["trials"] == 3


def result_rows(project: Path) -> dict[str, dict[str, str]]:
    """dist/results.csv's rows by trial id."""
    with (project / "dist/results.csv").open(newline="") as handle:
        return {row["id"]: row for row in csv.DictReader(handle)}


def results_table(project: Path, *args: str) -> list[dict[str, str]]:
    """`minimake --results` off a terminal, one dict per row keyed by the header."""
    header, *lines = minimake(project, "--results", *args).stdout.splitlines()
    return [dict(zip(header.split("\t"), line.split("\t"), strict=True)) for line in lines]


def test_results_list_every_trial_and_keep_them_as_the_grid_grows(project: Path) -> None:
    rows = results_table(project, "--sort", "val_accuracy")
    assert sorted(row["task"] for row in rows) == sorted(
        f"dist/trained/{trial}/metrics.json" for trial in grid_ids(project)
    )
    scores = [float(row["val_accuracy"]) for row in rows]
    assert scores == sorted(scores, reverse=True)
    assert {row["state"] for row in rows} == {"up to date"}
    assert {"model", "C", "gamma", "fit_seconds"} <= set(rows[0])
    assert "config.C" not in rows[0]  # metrics are the file's top-level numbers only
    edit_tasks(project, SVC_LINE, SVC_LINE.replace("[1.0, 10.0]", "[1.0, 10.0, 100.0]"))
    minimake(project)
    grown = results_table(project)
    assert len(grown) == len(rows) + 2
    assert {float(row["C"]) for row in grown[:2]} == {100.0}  # the newest first
    minimake(project, "clean")
    assert len(results_table(project)) == len(grown)  # a clean keeps them, as never run


def test_failing_trial_costs_only_itself_under_keep_going(project: Path) -> None:
    """An invalid value fails its trial, twice (its retry); the others still train, and the
    collate runs over them: the table lists the bad trial as failed and the best is the best
    of those that succeeded. After the fix, only the fixed one trains."""
    # Three good trials must be retrained in the same run as the bad one.
    again = set(grid_ids(project)[:3])
    for trial in again:
        shutil.rmtree(project / "dist/trained" / trial)
    best_before = json.loads((project / "dist/best.json").read_text())

    failed = minimake(project, "-k", 'EXTRA={"model": "svc", "C": -1.0}', expect=2)
    output = failed.stdout + failed.stderr
    assert "InvalidParameterError" in output
    (bad,) = set(grid_ids(project)) - set(metrics_mtimes(project))
    attempt = f"dist/trained/{bad}/metrics.json] InvalidParameterError"
    assert re.search(re.escape(attempt) + r".*\(attempt 1 of 2; trying again\)$", output, re.M)
    assert re.search(re.escape(attempt) + r".*\(after 2 attempts\)$", output, re.M)
    assert "Target 'all' not remade because of errors." not in output
    assert "1 failed" in failed.stderr
    assert not (project / "dist/trained" / bad / "metrics.json").exists()
    assert again <= set(metrics_mtimes(project))
    rows = result_rows(project)
    assert set(rows) == set(grid_ids(project))
    assert {(row["status"], row["rank"]) for row in rows.values() if row["id"] == bad} == {
        ("failed", "")
    }
    assert result_ids(project)[-1] == bad  # failed trials last
    assert {row["status"] for trial, row in rows.items() if trial != bad} == {"ok"}
    best = json.loads((project / "dist/best.json").read_text())
    assert best["failed"] == [bad]
    assert (best["id"], best["val_accuracy"]) == (best_before["id"], best_before["val_accuracy"])
    assert "6 trials, best first, 1 failed" in failed.stdout

    # The failed trial's target is gone, so the next run tries it again, and then the collate.
    dry = minimake(project, "-n", 'EXTRA={"model": "svc", "C": -1.0}')
    assert echoed_trials(dry.stdout) == {bad}
    assert "collate(" in dry.stdout

    before = metrics_mtimes(project)
    minimake(project, 'EXTRA={"model": "svc", "C": 2.0}')
    (fixed,) = retrained(before, metrics_mtimes(project))
    assert json.loads((project / f"dist/trained/{fixed}/metrics.json").read_text())["config"] == {
        "model": "svc",
        "C": 2.0,
    }
    assert len(result_ids(project)) == 6
    assert {row["status"] for row in result_rows(project).values()} == {"ok"}
    assert json.loads((project / "dist/best.json").read_text())["failed"] == []


def test_a_trial_past_its_time_limit_is_stopped_and_listed_as_failed(project: Path) -> None:
    """TRIAL_TIMEOUT bounds each trial: one that runs past it is stopped, retried once as any
    failure, and under -k the collate lists it as failed. (A limit of a hundredth of a second
    stands in for a hung trial: no fit of the digits set is that fast.)"""
    (slow, *_) = grid_ids(project)
    shutil.rmtree(project / "dist/trained" / slow)
    done = minimake(project, "-k", "TRIAL_TIMEOUT=0.01", expect=2)
    output = done.stdout + done.stderr
    where = f"dist/trained/{slow}/metrics.json] Timed out after 0.01s"
    assert re.search(re.escape(where) + r" \(attempt 1 of 2; trying again\)$", output, re.M)
    assert re.search(re.escape(where) + r" \(after 2 attempts\)$", output, re.M)
    rows = result_rows(project)
    assert rows[slow]["status"] == "failed"
    assert {row["status"] for trial, row in rows.items() if trial != slow} == {"ok"}
    assert json.loads((project / "dist/best.json").read_text())["failed"] == [slow]


def test_without_keep_going_a_failing_trial_stops_the_search_before_the_collate(
    project: Path,
) -> None:
    results_before = (project / "dist/results.csv").stat().st_mtime_ns
    done = minimake(project, 'EXTRA={"model": "svc", "C": -1.0}', expect=2)
    assert "(attempt 1 of 2; trying again)" in done.stderr
    assert "collate(" not in done.stdout
    assert (project / "dist/results.csv").stat().st_mtime_ns == results_before


def test_deleting_one_model_reruns_just_it_and_collate(project: Path) -> None:
    trial = grid_ids(project)[1]
    before = metrics_mtimes(project)
    results_before = (project / "dist/results.csv").stat().st_mtime_ns
    (project / "dist/trained" / trial / "model.pkl").unlink()
    done = minimake(project)
    assert retrained(before, metrics_mtimes(project)) == {trial}
    assert echoed_trials(done.stdout) == {trial}
    assert "collate(" in done.stdout
    assert (project / "dist/trained" / trial / "model.pkl").exists()
    assert (project / "dist/results.csv").stat().st_mtime_ns != results_before


def test_same_grid_gives_the_same_best_configuration(built: Path, project: Path) -> None:
    """Everything rebuilt from scratch (-B) picks the same winner with the same scores."""
    minimake(project, "-B")
    first = json.loads((built / "dist/best.json").read_text())
    second = json.loads((project / "dist/best.json").read_text())
    assert second == first
    assert result_ids(project) == result_ids(built)


def test_unknown_grid_is_reported(project: Path) -> None:
    done = minimake(project, "-n", "GRID=huge", expect=2)
    assert "Unknown GRID 'huge'" in done.stderr


# --- The recipe trigger (tasks.py opts in): edits that change results rerun what they affect


def would_run(project: Path) -> dict[str, str]:
    """What `-n --json` says would run, with why (the phony `all` and `grid-changed` left out)."""
    document = json.loads(minimake(project, "-n", "--json").stdout)
    return {
        task["name"]: task["reason"]
        for task in document["tasks"]
        if task["status"] == "would_run" and task["name"] not in ("all", "grid-changed")
    }


def test_editing_the_seed_rebuilds_the_splits_and_every_trial(project: Path) -> None:
    old_ids = set(grid_ids(project))
    edit_tasks(project, "\nSEED = 0\n", "\nSEED = 1\n")
    assert would_run(project)["dist/data/train.npz"] == "args (0,) -> (1,)"
    minimake(project)
    new_ids = set(grid_ids(project))
    assert new_ids.isdisjoint(old_ids)  # the seed is part of every trial's id
    assert set(result_ids(project)) == new_ids
    assert new_ids <= set(metrics_mtimes(project))
    assert NOTHING_TO_DO in minimake(project).stdout


def test_editing_a_fixed_value_retrains_only_that_models_trials(project: Path) -> None:
    old_ids = set(grid_ids(project))
    before = metrics_mtimes(project)
    # The small grid has no MLP: its max_iter affects nothing here.
    edit_tasks(
        project, '{"max_iter": 200, "random_state": 0}', '{"max_iter": 50, "random_state": 0}'
    )
    assert NOTHING_TO_DO in minimake(project, "-n").stdout
    edit_tasks(
        project,
        '{"early_stopping": False, "random_state": 0}',
        '{"early_stopping": False, "random_state": 1}',
    )
    minimake(project)
    ids = set(grid_ids(project))
    (changed,) = ids - old_ids
    assert changed.startswith("hgb-")
    assert retrained(before, metrics_mtimes(project)) == {changed}
    assert sorted(result_ids(project)) == sorted(ids)


def test_editing_the_training_function_retrains_every_trial(project: Path) -> None:
    ids = set(grid_ids(project))
    before = metrics_mtimes(project)
    # A comment and a blank line are no change.
    edit_tasks(
        project,
        "    model = _make_model(config)",
        "    # Build it.\n\n    model = _make_model(config)",
    )
    assert NOTHING_TO_DO in minimake(project, "-n").stdout
    edit_tasks(project, '"train_rows": len(y_train),', '"train_rows": int(len(y_train)),')
    reasons = would_run(project)
    assert set(reasons) == {trial_dir(trial) for trial in ids} | {"dist/results.csv"}
    assert {reasons[trial_dir(trial)] for trial in ids} == {"code of train_trial changed"}
    minimake(project)
    assert set(grid_ids(project)) == ids
    assert retrained(before, metrics_mtimes(project)) == ids
    assert NOTHING_TO_DO in minimake(project).stdout


def trial_dir(trial: str) -> str:
    """The task name of a trial: its metrics file."""
    return f"dist/trained/{trial}/metrics.json"
