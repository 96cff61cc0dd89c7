"""Successive halving: minimake's main job (``SEARCH=halving``) against scikit-learn's
HalvingGridSearchCV on the same splits, grid, factor and schedule, round by round.

    python3 bench/halving.py [JOBS] [--grid default] [--factor 3] [--full-grid]

Both see the main job's training and validation splits as one set with a PredefinedSplit (one
hold-out); both subsample each round with scikit-learn's splitter seeded alike (minimake calls
it from the trial's recipe), so the kept candidates of every round and the winner should be the
same; a difference is printed with the scores that made it. Prints the wall times side by side
(minimake's includes preparing the data, which scikit-learn is handed ready), and with
``--full-grid`` the full grid search's wall time and winner beside halving's.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def minimake(folder: Path, *words: str) -> float:
    """Run the main job in ``folder``; its wall time in seconds."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "minimake", *words],
        cwd=folder,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


def main_job() -> Any:
    """The main job's module, imported as minimake imports it (for its grid and models)."""
    sys.path.insert(0, str(REPO))
    from minimake.load import load_tasks

    path = str(REPO / "tasks.py")
    load_tasks(path)
    return next(
        module
        for name, module in sys.modules.items()
        if name.startswith("_minimake_tasks_") and getattr(module, "__file__", None) == path
    )


def canonical(config: dict[str, Any]) -> str:
    return json.dumps(config, sort_keys=True)


def scikit_learn(job: Any, folder: Path, grid: str, factor: int, jobs: int) -> dict[str, Any]:
    """HalvingGridSearchCV over the same candidates, in the same order, on the same splits."""
    import importlib

    import numpy as np
    from sklearn.experimental import enable_halving_search_cv  # noqa: F401
    from sklearn.model_selection import HalvingGridSearchCV, PredefinedSplit
    from sklearn.pipeline import Pipeline

    def split(name: str) -> tuple[Any, Any]:
        with np.load(folder / "dist" / "data" / f"{name}.npz") as data:
            return data["x"], data["y"]

    (x_train, y_train), (x_val, y_val) = split("train"), split("val")
    x = np.concatenate([x_train, x_val])
    y = np.concatenate([y_train, y_val])
    fold = np.concatenate([np.full(len(y_train), -1), np.zeros(len(y_val), dtype=int)])
    configs = [config for _, config in job.expand(grid)]
    points, names = [], {}
    for config in configs:  # one point per candidate: ParameterGrid keeps the list's order
        module, cls, fixed = job.MODELS[config["model"]]
        names[cls] = config["model"]
        model = getattr(importlib.import_module(module), cls)(**fixed)
        point: dict[str, list[Any]] = {"model": [model]}
        for key, value in config.items():
            if key != "model":
                point[f"model__{key}"] = [tuple(value) if isinstance(value, list) else value]
        points.append(point)
    search = HalvingGridSearchCV(
        Pipeline([("model", job._make_model(configs[0]))]),
        points,
        factor=factor,
        cv=PredefinedSplit(fold),
        random_state=job.SEED,
        refit=False,
        n_jobs=jobs,
    )
    started = time.perf_counter()
    search.fit(x, y)
    seconds = time.perf_counter() - started

    def config_of(params: dict[str, Any]) -> dict[str, Any]:
        config = {"model": names[type(params["model"]).__name__]}
        for key, value in params.items():
            if key != "model":
                config[key.removeprefix("model__")] = (
                    list(value) if isinstance(value, tuple) else value
                )
        return config

    results = search.cv_results_
    rounds = []
    for itr in range(len(search.n_resources_)):
        trained = [i for i, it in enumerate(results["iter"]) if it == itr]
        rounds.append(
            {
                "samples": int(search.n_resources_[itr]),
                "trained": {
                    canonical(config_of(results["params"][i])): float(results["mean_test_score"][i])
                    for i in trained
                },
            }
        )
    return {
        "seconds": seconds,
        "rounds": rounds,
        "winner": canonical(config_of(search.best_params_)),
        "score": float(search.best_score_),
    }


def ours(folder: Path, job: Any, rounds: int) -> dict[str, Any]:
    """What minimake's rounds trained, scored and kept, from the metrics it wrote."""
    found = []
    best = json.loads((folder / "dist" / "best.json").read_text())
    for number in range(1, rounds + 1):
        samples = best["rounds"][number - 1][0]
        trained = {}
        for metrics in (folder / "dist" / "halving").glob(f"*-n{samples}/metrics.json"):
            row = json.loads(metrics.read_text())
            trained[canonical(row["config"])] = row["val_accuracy"]
        found.append({"samples": samples, "trained": trained})
    return {
        "rounds": found,
        "winner": canonical(best["config"]),
        "score": best["val_accuracy"],
        "test": best["test_accuracy"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("jobs", nargs="?", type=int, default=2)
    parser.add_argument("--grid", default="default")
    parser.add_argument("--factor", type=int, default=3)
    parser.add_argument("--full-grid", action="store_true")
    args = parser.parse_args()
    job = main_job()
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        shutil.copy(REPO / "tasks.py", folder / "tasks.py")
        words = [f"-j{args.jobs}", f"GRID={args.grid}", f"FACTOR={args.factor}"]
        halving_seconds = minimake(folder, *words, "SEARCH=halving")
        theirs = scikit_learn(job, folder, args.grid, args.factor, args.jobs)
        mine = ours(folder, job, len(theirs["rounds"]))
        print(f"grid {args.grid}, factor {args.factor}, -j{args.jobs} / n_jobs={args.jobs}")
        print(f"{'round':>5} {'samples':>8} {'trained (sk/mm)':>16} {'kept the same':>14}")
        for number, (a, b) in enumerate(zip(theirs["rounds"], mine["rounds"], strict=True), 1):
            same_set = set(a["trained"]) == set(b["trained"])
            print(
                f"{number:>5} {a['samples']:>5}/{b['samples']:<5} "
                f"{len(a['trained']):>7}/{len(b['trained']):<8} {'yes' if same_set else 'NO':>14}"
            )
            if not same_set:
                for config in sorted(set(a["trained"]) ^ set(b["trained"])):
                    side = "sklearn" if config in a["trained"] else "minimake"
                    print(f"      only in {side}: {config}")
            diffs = [
                (c, a["trained"][c], b["trained"][c])
                for c in set(a["trained"]) & set(b["trained"])
                if abs(a["trained"][c] - b["trained"][c]) > 1e-12
            ]
            for config, sk, mm in diffs[:5]:
                print(f"      score differs: {config}: sklearn {sk:.6f} minimake {mm:.6f}")
        print(f"winner sklearn:  {theirs['winner']} (val {theirs['score']:.4f})")
        print(
            f"winner minimake: {mine['winner']} (val {mine['score']:.4f}, test {mine['test']:.4f})"
        )
        print(f"same winner: {'yes' if theirs['winner'] == mine['winner'] else 'NO'}")
        print(
            f"wall: HalvingGridSearchCV {theirs['seconds']:.1f}s (data given), "
            f"minimake SEARCH=halving {halving_seconds:.1f}s (with preparing the data)"
        )
        if args.full_grid:
            grid_seconds = minimake(folder, *words, "SEARCH=grid")
            best = json.loads((folder / "dist" / "best.json").read_text())
            print(
                f"full grid: {grid_seconds:.1f}s (data already prepared), winner "
                f"{canonical(best['config'])} val {best['val_accuracy']:.4f} "
                f"test {best['test_accuracy']:.4f}"
            )


if __name__ == "__main__":
    main()
