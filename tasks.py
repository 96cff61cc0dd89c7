"""The main job: a scatter/gather hyperparameter search with scikit-learn on its digits set.

    minimake -j2                       # the default grid (24 trials)
    minimake -j2 GRID=small            # 5 fast trials (the tests use it)
    minimake -j10 GRID=wide            # 60 trials, for ten cores and more
    minimake EXTRA='{"model": "svc", "C": 3.0}'    # add configurations (a JSON object or list)
    minimake -j10 SEARCH=halving       # successive halving over the same grid (FACTOR=3)
    minimake -n                        # what would run, and why
    minimake --results --sort val_accuracy    # every trial run so far, best first
    minimake clean                     # remove dist/ (the recorded results stay)

The graph: prepare the data once, train one task per configuration (the scatter), then collate
the validation scores, pick the best configuration and score it on the held-out test split (the
gather). A trial that fails, or runs past its time limit (TRIAL_TIMEOUT, 30 minutes), is run once
more (TRIAL_RETRIES); one that still fails costs only
itself: under -k the collate runs over the trials that succeeded and lists the failed ones as
failed (``allow_failed_deps``), and the build still exits 2. Outputs, all under dist/:

    hparams.json                the expanded grid: one {"id", "config"} per trial
    data/{train,val,test}.npz   the splits, standardised with statistics of the training split
    trained/<id>/model.pkl      one fitted model per configuration...
    trained/<id>/metrics.json   ...and its validation score
    results.csv, best.json      the collated table (failed trials last, as failed) and the
                                winner among the trials that succeeded, with its test score

Edit SEARCH_SPACES to change the search. A trial's id is derived from its full effective
configuration (its grid values, its model's fixed values in MODELS and the SEED of the splits),
so adding values trains only the new configurations, and changing a value, fixed or not, trains
only the configurations that now hold it: every other trial is still up to date. The file asks
for minimake's recipe trigger as well (``rerun_triggers`` below), so editing a recipe function
(``train_trial``, or a helper of this file it calls) or its arguments reruns the tasks it
makes, and a comment or a blank line changes nothing.
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
import os
import pickle
import time
from pathlib import Path
from typing import Any

from minimake import expand_after, failed_deps, phony, preload, rerun_triggers, task, var

# The search: grid name -> model -> estimator parameter -> the values to try. Every model's
# grid is a full cross product. Values must be JSON (use lists, not tuples): the trial id is a
# hash of the configuration's JSON form, so 1 and 1.0 are different trials.
SEARCH_SPACES: dict[str, dict[str, dict[str, list[Any]]]] = {
    "default": {
        # The slow models first: the engine starts ready tasks in declaration order among
        # equals, and a long trial started last would leave the other cores idle at the end.
        "mlp": {"hidden_layer_sizes": [[64], [128]], "alpha": [0.0001, 0.001, 0.01]},
        "hgb": {"learning_rate": [0.05, 0.1, 0.2], "max_leaf_nodes": [15, 31], "max_iter": [50]},
        "svc": {"C": [1.0, 10.0, 100.0], "gamma": [0.001, 0.005, 0.01, "scale"]},
    },
    # Sized for ten cores and more: 60 trials, none much longer than the rest, so that every
    # worker stays busy to the end (`bench/speedup.py 10 --grid wide`).
    "wide": {
        "mlp": {"hidden_layer_sizes": [[64], [128], [64, 64]], "alpha": [0.0001, 0.001, 0.01, 0.1]},
        "hgb": {
            "learning_rate": [0.05, 0.1, 0.2, 0.3],
            "max_leaf_nodes": [15, 31, 63],
            "max_iter": [50],
        },
        "svc": {
            "C": [0.3, 1.0, 3.0, 10.0, 100.0, 1000.0],
            "gamma": [0.0005, 0.001, 0.005, 0.01, 0.05, "scale"],
        },
    },
    "small": {
        "hgb": {"learning_rate": [0.1], "max_leaf_nodes": [15], "max_iter": [20]},
        "svc": {"C": [1.0, 10.0], "gamma": [0.005, "scale"]},
    },
}

# Model name -> (module, estimator class, fixed parameters the grid does not vary).
MODELS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "svc": ("sklearn.svm", "SVC", {}),
    "mlp": ("sklearn.neural_network", "MLPClassifier", {"max_iter": 200, "random_state": 0}),
    "hgb": (
        "sklearn.ensemble",
        "HistGradientBoostingClassifier",
        {"early_stopping": False, "random_state": 0},
    ),
}

SEED = 0
# How many more times a failed trial runs (it sees its attempt in MINIMAKE_ATTEMPT): a worker
# that died or a flaky library gets a second chance, a bad configuration fails twice.
TRIAL_RETRIES = 1
# Seconds a trial may run before it is stopped (SIGTERM to its worker's group, SIGKILL 5 s
# later) and counts as failed: a deadlocked fit or a stuck file system costs that trial and
# its -j slot for this long, not the whole build forever. Thirty minutes is far more than a
# trial of these grids needs, even on a loaded machine, so only a hung one trips it;
# `minimake TRIAL_TIMEOUT=600` sets another (a number of seconds).
TRIAL_TIMEOUT = float(var("TRIAL_TIMEOUT", "1800"))
DIST = "dist"
HPARAMS = f"{DIST}/hparams.json"
SPLITS = {name: f"{DIST}/data/{name}.npz" for name in ("train", "val", "test")}
RESULTS = f"{DIST}/results.csv"
BEST = f"{DIST}/best.json"

# Environment variables that size the BLAS and OpenMP thread pools of libraries loaded later.
_THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)

Config = dict[str, Any]


# --- The grid ---------------------------------------------------------------------------------


def effective(config: Config) -> Config:
    """Everything that decides a trial's result beside the code: its grid values, the fixed
    values of its model and the seed of the splits it trains on."""
    _, _, fixed = MODELS[config["model"]]
    return {**config, "fixed": fixed, "seed": SEED}


def trial_id(config: Config) -> str:
    """A stable id for a configuration: its model name and a hash of the canonical JSON of its
    effective configuration, so a change of a fixed value or of the seed is a new trial."""
    canonical = json.dumps(effective(config), sort_keys=True, separators=(",", ":"))
    return f"{config['model']}-{hashlib.sha1(canonical.encode()).hexdigest()[:10]}"


def expand(grid: str, extra: str = "") -> list[tuple[str, Config]]:
    """The trials of ``grid`` plus the ``extra`` configurations (JSON), as (id, config) pairs."""
    if grid not in SEARCH_SPACES:
        choices = ", ".join(sorted(SEARCH_SPACES))
        raise ValueError(f"Unknown GRID '{grid}'; choose one of: {choices}")
    configs = [
        {"model": model, **dict(zip(space, values, strict=True))}
        for model, space in SEARCH_SPACES[grid].items()
        for values in itertools.product(*space.values())
    ]
    configs += _extra_configs(extra)
    # Keyed by id, so a configuration listed twice is one trial.
    return list({trial_id(config): config for config in configs}.items())


def _extra_configs(extra: str) -> list[Config]:
    if not extra.strip():
        return []
    parsed = json.loads(extra)
    configs = parsed if isinstance(parsed, list) else [parsed]
    for config in configs:
        if not isinstance(config, dict) or config.get("model") not in MODELS:
            raise ValueError(f"EXTRA: each configuration needs a known 'model' (got {config!r})")
    return configs


def trial_dir(trial: str) -> str:
    """Where one trial's model and metrics live."""
    return f"{DIST}/trained/{trial}"


def _hparams_text(trials: list[tuple[str, Config]]) -> str:
    entries = [{"id": trial, "config": config} for trial, config in trials]
    return json.dumps(entries, indent=2, sort_keys=True) + "\n"


def _hparams_on_disk_is_current(text: str) -> bool:
    """Whether dist/hparams.json already holds ``text`` (a read at load time; nothing written)."""
    path = Path(__file__).resolve().parent / HPARAMS
    try:
        return path.read_text() == text
    except OSError:
        return True  # missing: the engine makes it anyway, no need to force it


# --- Recipes (module level: the pool's workers find them by re-importing this file) ------------


def write_hparams(grid: str, extra: str) -> None:
    """Write the expanded grid to dist/hparams.json, unless it already holds exactly that."""
    text = _hparams_text(expand(grid, extra))
    path = Path(HPARAMS)
    if path.exists() and path.read_text() == text:
        return  # keep the mtime, so that nothing downstream looks stale
    _write_atomically(path, text.encode())
    print(f"{HPARAMS}: {len(json.loads(text))} trials")


def prepare_data(seed: int) -> None:
    """Load digits, drop non-finite rows, split, augment and standardise; save the splits."""
    _single_thread_environment()
    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    features, labels = load_digits(return_X_y=True)
    finite = np.isfinite(features).all(axis=1)
    features, labels = features[finite].astype(np.float64), labels[finite]
    # 60/20/20, stratified so every split holds every digit in the same proportions.
    x_train, x_rest, y_train, y_rest = train_test_split(
        features, labels, test_size=0.4, random_state=seed, stratify=labels
    )
    x_val, x_test, y_val, y_test = train_test_split(
        x_rest, y_rest, test_size=0.5, random_state=seed, stratify=y_rest
    )
    # Only the training split is augmented, so validation and test stay real images.
    x_train, y_train = _nudged(x_train, y_train)
    # Statistics of the training split only: validation and test must not leak into them.
    scaler = StandardScaler().fit(x_train)
    splits = {"train": (x_train, y_train), "val": (x_val, y_val), "test": (x_test, y_test)}
    for name, (x, y) in splits.items():
        _save_split(SPLITS[name], scaler.transform(x), y)
        print(f"{SPLITS[name]}: {len(y)} rows")


def train_trial(trial: str, config: Config) -> None:
    """Fit one configuration on the training split and score it on the validation split."""
    _single_thread_environment()
    from threadpoolctl import threadpool_limits

    model = _make_model(config)  # imports scikit-learn, loading its OpenMP runtime
    x_train, y_train = _load_split("train")
    x_val, y_val = _load_split("val")
    # The environment only reaches libraries loaded after it was set, and a worker process
    # serves many tasks: cap the pools already loaded too, so -jN really means N cores.
    with threadpool_limits(limits=1):
        started = time.perf_counter()
        model.fit(x_train, y_train)
        fit_seconds = time.perf_counter() - started
        val_accuracy = float(model.score(x_val, y_val))
    folder = Path(trial_dir(trial))
    folder.mkdir(parents=True, exist_ok=True)
    metrics = {
        "id": trial,
        "config": config,
        "val_accuracy": val_accuracy,
        "fit_seconds": round(fit_seconds, 3),
        "train_rows": len(y_train),
    }
    # The model first and the metrics last: metrics.json names the task, so it must not exist
    # unless the whole trial succeeded.
    _write_atomically(folder / "model.pkl", pickle.dumps(model))
    _write_atomically(folder / "metrics.json", (json.dumps(metrics, indent=2) + "\n").encode())
    print(f"{trial}: validation accuracy {val_accuracy:.4f} in {fit_seconds:.2f}s")


def collate(grid: str, extra: str) -> None:
    """Tabulate the current grid's trials, the failed ones as failed; score the best of those
    that succeeded on the test split."""
    _single_thread_environment()
    from threadpoolctl import threadpool_limits

    # The deps that failed this run (under -k): their metrics are gone, or left from an older
    # run and no longer true.
    failed = set(failed_deps())
    unusable = failed - {f"{trial_dir(trial)}/metrics.json" for trial, _ in expand(grid, extra)}
    if unusable:
        raise RuntimeError(f"cannot collate without {', '.join(sorted(unusable))}")
    rows = []
    for trial, config in expand(grid, extra):
        if f"{trial_dir(trial)}/metrics.json" in failed:
            rows.append({"id": trial, "config": config, "failed": True})
        else:
            rows.append(_read_metrics(trial))
    # Best validation accuracy first, the failed trials last; the id breaks ties so the
    # winner is reproducible.
    rows.sort(key=lambda row: (row.get("failed", False), -row.get("val_accuracy", 0), row["id"]))
    if rows[0].get("failed"):
        raise RuntimeError(f"all {len(rows)} trials failed: there is no best configuration")
    best = rows[0]
    model = pickle.loads(Path(trial_dir(best["id"]), "model.pkl").read_bytes())
    x_test, y_test = _load_split("test")
    with threadpool_limits(limits=1):
        test_accuracy = float(model.score(x_test, y_test))
    _write_results(rows)
    summary = {
        "id": best["id"],
        "config": best["config"],
        "val_accuracy": best["val_accuracy"],
        "test_accuracy": test_accuracy,
        "trials": len(rows),
        "failed": [row["id"] for row in rows if row.get("failed")],
    }
    _write_atomically(Path(BEST), (json.dumps(summary, indent=2) + "\n").encode())
    _print_table(rows, summary)


# --- Successive halving (SEARCH=halving) --------------------------------------------------------
# Round one trains every configuration of the grid on a small subsample, each round keeps the
# best 1/FACTOR by validation score and trains them on FACTOR times more samples: scikit-learn's
# HalvingGridSearchCV, with its schedule, its subsamples and its choice of the kept, so the two
# can be compared round by round (bench/halving.py). Its "samples" are the training and the
# validation split together, a PredefinedSplit of one hold-out; each round subsamples both.

HALVING = f"{DIST}/halving"
ROUNDS_TABLE = f"{HALVING}/rounds.csv"


def halving_schedule(
    candidates: int, samples: int, factor: int, min_resources: str | int, classes: int
) -> list[tuple[int, int]]:
    """(samples, candidates) per round, as HalvingGridSearchCV computes ``n_resources_`` and
    ``n_candidates_`` for one split and no aggressive elimination."""
    import math

    smallest = 1 * 2 * classes  # its n_splits * 2 * n_classes
    required = 1 + math.floor(math.log(candidates, factor))
    if min_resources == "exhaust":
        least = max(smallest, samples // factor ** (required - 1))
    elif min_resources == "smallest":
        least = smallest
    else:
        least = int(min_resources)
    possible = 1 + math.floor(math.log(samples // least, factor))
    rounds = []
    for itr in range(min(possible, required)):
        rounds.append((min(int(factor**itr * least), samples), candidates))
        candidates = math.ceil(candidates / factor)
    return rounds


def _hold_out() -> tuple[Any, Any, Any]:
    """The training and validation splits as one set, and the PredefinedSplit between them."""
    import numpy as np
    from sklearn.model_selection import PredefinedSplit

    x_train, y_train = _load_split("train")
    x_val, y_val = _load_split("val")
    fold = np.concatenate([np.full(len(y_train), -1), np.zeros(len(y_val), dtype=int)])
    return np.concatenate([x_train, x_val]), np.concatenate([y_train, y_val]), PredefinedSplit(fold)


def train_round(trial: str, config: Config, samples: int, folder: str) -> None:
    """Fit one configuration on this round's subsample of the training split and score it on
    the subsample of the validation split: HalvingGridSearchCV's own splitter, seeded alike."""
    _single_thread_environment()
    from sklearn.model_selection._search_successive_halving import _SubsampleMetaSplitter
    from threadpoolctl import threadpool_limits

    x, y, hold_out = _hold_out()
    splitter = _SubsampleMetaSplitter(
        base_cv=hold_out, fraction=samples / len(y), subsample_test=True, random_state=SEED
    )
    train_rows, val_rows = next(splitter.split(x, y))
    model = _make_model(config)
    with threadpool_limits(limits=1):
        started = time.perf_counter()
        model.fit(x[train_rows], y[train_rows])
        fit_seconds = time.perf_counter() - started
        val_accuracy = float(model.score(x[val_rows], y[val_rows]))
    metrics = {
        "id": trial,
        "config": config,
        "val_accuracy": val_accuracy,
        "fit_seconds": round(fit_seconds, 3),
        "samples": samples,
        "train_rows": len(train_rows),
    }
    _write_atomically(Path(folder, "model.pkl"), pickle.dumps(model))
    _write_atomically(Path(folder, "metrics.json"), (json.dumps(metrics, indent=2) + "\n").encode())
    print(f"{trial} on {samples} samples: validation accuracy {val_accuracy:.4f}")


def keep_best(out: str, folders: list[str], keep: int) -> None:
    """The ``keep`` best of a round, chosen as scikit-learn's _top_k chooses (its argsort, so
    that ties fall alike), in its order: the next round's candidates; and the round's best as
    its best_index_ takes it (the first of the highest scores, in the round's order)."""
    import numpy as np

    rows = [json.loads(Path(folder, "metrics.json").read_text()) for folder in folders]
    scores = np.array([row["val_accuracy"] for row in rows])
    order = np.roll(np.argsort(scores), np.count_nonzero(np.isnan(scores)))
    kept = [{"config": rows[i]["config"], "folder": folders[i]} for i in order[-keep:]]
    best = int(np.nanargmax(scores))
    chosen = {"kept": kept, "best": {"config": rows[best]["config"], "folder": folders[best]}}
    _write_atomically(Path(out), (json.dumps(chosen, indent=2) + "\n").encode())


def collate_rounds(schedule: list[tuple[int, int]], kept_files: list[str]) -> None:
    """The table of the rounds, and the winner (the last round's best) scored on the test split."""
    _single_thread_environment()
    from threadpoolctl import threadpool_limits

    lines = ["round,samples,candidates,kept,best_val_accuracy,best_id"]
    for number, ((samples, candidates), kept_file) in enumerate(
        zip(schedule, kept_files, strict=True), 1
    ):
        chosen = json.loads(Path(kept_file).read_text())
        best = json.loads(Path(chosen["best"]["folder"], "metrics.json").read_text())
        names = " ".join(Path(row["folder"]).name for row in chosen["kept"])
        lines.append(
            f"{number},{samples},{candidates},{names},{best['val_accuracy']:.4f},{best['id']}"
        )
    _write_atomically(Path(ROUNDS_TABLE), ("\n".join(lines) + "\n").encode())
    winner_folder = json.loads(Path(kept_files[-1]).read_text())["best"]["folder"]
    winner = json.loads(Path(winner_folder, "metrics.json").read_text())
    model = pickle.loads(Path(winner_folder, "model.pkl").read_bytes())
    x_test, y_test = _load_split("test")
    with threadpool_limits(limits=1):
        test_accuracy = float(model.score(x_test, y_test))
    summary = {
        "id": winner["id"],
        "config": winner["config"],
        "val_accuracy": winner["val_accuracy"],
        "test_accuracy": test_accuracy,
        "trials": sum(candidates for _, candidates in schedule),
        "rounds": [[samples, candidates] for samples, candidates in schedule],
        "failed": [],
    }
    _write_atomically(Path(BEST), (json.dumps(summary, indent=2) + "\n").encode())
    print("\n".join(lines))
    print(f"best: {winner['id']} test accuracy {test_accuracy:.4f}")


def declare_round(number: int, schedule: list[tuple[int, int]], candidates: list[Config]) -> None:
    """Round ``number``'s trials and its choice of the kept; the next round once that is made,
    or the collate after the last. Each trial is an ordinary task: its id is its
    configuration's and its sample count, so a round trains only what it has not trained."""
    samples, _ = schedule[number - 1]
    folders = []
    for config in candidates:
        folder = f"{HALVING}/{trial_id(config)}-n{samples}"
        task(
            [f"{folder}/metrics.json", f"{folder}/model.pkl"],
            deps=[SPLITS["train"], SPLITS["val"]],
            recipe=train_round,
            args=(f"{trial_id(config)}-n{samples}", config, samples, folder),
            doc=f"Round {number}: {config['model']} {_params(config)} on {samples} samples",
            retries=TRIAL_RETRIES,
            timeout=TRIAL_TIMEOUT,
            params={**config, "samples": samples},
            metrics=f"{folder}/metrics.json",
        )
        folders.append(folder)
    kept_file = f"{HALVING}/round{number}.json"
    keep = math_ceil(len(candidates) / FACTOR)
    task(
        kept_file,
        deps=[f"{folder}/metrics.json" for folder in folders],
        recipe=keep_best,
        args=(kept_file, folders, keep),
    )
    if number == len(schedule):
        kept_files = [f"{HALVING}/round{n}.json" for n in range(1, number + 1)]
        task(
            [ROUNDS_TABLE, BEST],
            deps=[*kept_files, SPLITS["test"]],
            recipe=collate_rounds,
            args=(schedule, kept_files),
        )
        return

    @expand_after(kept_file, produces=[BEST], name=f"halving_round{number + 1}")
    def next_round(kept_path: str) -> None:
        kept = json.loads(Path(kept_path).read_text())["kept"]
        declare_round(number + 1, schedule, [row["config"] for row in kept])


def math_ceil(value: float) -> int:
    import math

    return math.ceil(value)


# --- Helpers ------------------------------------------------------------------------------------


def _single_thread_environment() -> None:
    for name in _THREAD_VARIABLES:
        os.environ[name] = "1"


def _make_model(config: Config) -> Any:
    import importlib

    module, name, fixed = MODELS[config["model"]]
    params = {key: value for key, value in config.items() if key != "model"}
    if "hidden_layer_sizes" in params:
        params["hidden_layer_sizes"] = tuple(params["hidden_layer_sizes"])
    return getattr(importlib.import_module(module), name)(**fixed, **params)


def _nudged(x: Any, y: Any) -> tuple[Any, Any]:
    """The 8x8 images plus copies shifted by one pixel each way (five times the rows)."""
    import numpy as np

    images = x.reshape(-1, 8, 8)
    copies = [images]
    for axis, shift in ((1, 1), (1, -1), (2, 1), (2, -1)):
        moved = np.roll(images, shift, axis=axis)
        # np.roll wraps around; blank the row or column that came in from the far edge.
        edge = 0 if shift == 1 else -1
        if axis == 1:
            moved[:, edge, :] = 0
        else:
            moved[:, :, edge] = 0
        copies.append(moved)
    return np.concatenate(copies).reshape(-1, 64), np.tile(y, len(copies))


def _save_split(path: str, x: Any, y: Any) -> None:
    import numpy as np

    buffer = io.BytesIO()
    np.savez(buffer, x=x, y=y)
    _write_atomically(Path(path), buffer.getvalue())


def _load_split(name: str) -> tuple[Any, Any]:
    import numpy as np

    with np.load(SPLITS[name]) as data:
        return data["x"], data["y"]


def _read_metrics(trial: str) -> dict[str, Any]:
    metrics: dict[str, Any] = json.loads(Path(trial_dir(trial), "metrics.json").read_text())
    return metrics


def _write_atomically(path: Path, data: bytes) -> None:
    """Write to a temporary file, then rename: a reader never sees a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(data)
    os.replace(partial, path)


def _write_results(rows: list[dict[str, Any]]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    # fit_seconds, a timing, stays the last column: what differs between two runs of a grid.
    writer.writerow(["rank", "id", "model", "params", "status", "val_accuracy", "fit_seconds"])
    for rank, row in enumerate(rows, start=1):
        config = row["config"]
        if row.get("failed"):  # no rank and no scores: it has none
            writer.writerow(["", row["id"], config["model"], _params(config), "failed", "", ""])
            continue
        accuracy = f"{row['val_accuracy']:.6f}"
        writer.writerow(
            [rank, row["id"], config["model"], _params(config), "ok", accuracy, row["fit_seconds"]]
        )
    _write_atomically(Path(RESULTS), buffer.getvalue().encode())


def _params(config: Config) -> str:
    return " ".join(f"{k}={json.dumps(v)}" for k, v in sorted(config.items()) if k != "model")


def _print_table(rows: list[dict[str, Any]], summary: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    failed = sum(1 for row in rows if row.get("failed"))
    title = f"{len(rows)} trials, best first" + (f", {failed} failed" if failed else "")
    table = Table(title=title)
    table.add_column("#", justify="right")
    table.add_column("id")
    table.add_column("params")
    table.add_column("val acc", justify="right")
    table.add_column("fit s", justify="right")
    for rank, row in enumerate(rows, start=1):
        if row.get("failed"):
            table.add_row("", row["id"], _params(row["config"]), "failed", "", style="red")
            continue
        style = "bold green" if rank == 1 else None
        table.add_row(
            str(rank),
            row["id"],
            _params(row["config"]),
            f"{row['val_accuracy']:.4f}",
            f"{row['fit_seconds']:.2f}",
            style=style,
        )
    # Recipe output is captured (not a terminal, so 80 columns); a wider table does not wrap.
    console = Console(width=max(Console().width, 100))
    console.print(table)
    console.print(
        f"best: {summary['id']}  validation {summary['val_accuracy']:.4f}"
        f"  test {summary['test_accuracy']:.4f}"
    )


# --- The graph ------------------------------------------------------------------------------------

# Beside make's mtime rule, rerun a task whose recipe changed since it last finished: the
# code of its function (and of the helpers of this file that it calls) or its arguments.
rerun_triggers("mtime", "recipe")

# Each worker of the pool imports scikit-learn as it starts, all of them side by side while
# the data is prepared, so that no trial waits for its worker's first import (about a second)
# after the splits are written. One BLAS and OpenMP thread per process first: the variables
# only reach libraries loaded after them, and -jN must mean N cores.
_single_thread_environment()
preload("numpy", "threadpoolctl", *(module for module, _, _ in MODELS.values()))
preload("sklearn.datasets", "sklearn.model_selection", "sklearn.preprocessing")

GRID = var("GRID", "default")
EXTRA = var("EXTRA", "")
TRIALS = expand(GRID, EXTRA)
SEARCH = var("SEARCH", "grid")  # or "halving"
FACTOR = int(var("FACTOR", "3"))
MIN_RESOURCES = var("MIN_RESOURCES", "exhaust")  # "smallest", or a number of samples

# The splits have no deps: the data ships with scikit-learn. Editing prepare_data or SEED reruns
# it (the recipe trigger); depending on tasks.py would retrain every trial at each grid edit.
task(list(SPLITS.values()), recipe=prepare_data, args=(SEED,))

# hparams.json has no file to compare against, yet it must follow the grid, which changes with
# tasks.py edits *and* with GRID=/EXTRA= on the command line (an mtime rule on tasks.py would
# miss the latter). So the comparison happens here, at load time, by content: when the file on
# disk differs from the grid as it is now, the task gets a phony dep that forces it; otherwise
# it has no deps and is up to date, and `minimake -n` on a finished run has nothing to do.
# write_hparams compares again before writing, so even a forced run keeps the file's mtime when
# the content is the same (collate, which depends on it, then stays up to date).
if _hparams_on_disk_is_current(_hparams_text(TRIALS)):
    _hparams_deps: list[str] = []
else:
    phony("grid-changed", doc="Declared only while dist/hparams.json disagrees with the grid.")
    _hparams_deps = ["grid-changed"]
task(HPARAMS, deps=_hparams_deps, recipe=write_hparams, args=(GRID, EXTRA))

if SEARCH == "halving":
    # Round one is declared once the splits exist: its schedule needs their sizes.
    @expand_after(SPLITS["train"], SPLITS["val"], produces=[BEST], name="halving_round1")
    def first_round(train: str, val: str) -> None:
        import numpy as np

        with np.load(train) as a, np.load(val) as b:
            samples = len(a["y"]) + len(b["y"])
            classes = len(np.unique(np.concatenate([a["y"], b["y"]])))
        minimum = MIN_RESOURCES if MIN_RESOURCES in ("exhaust", "smallest") else int(MIN_RESOURCES)
        schedule = halving_schedule(len(TRIALS), samples, FACTOR, minimum, classes)
        declare_round(1, schedule, [config for _, config in TRIALS])

elif SEARCH != "grid":
    raise ValueError(f"Unknown SEARCH '{SEARCH}'; choose grid or halving")

# The scatter: each trial depends only on the splits it reads and on its own configuration,
# which is in its id (its folder) and its args, never on hparams.json as a whole. A failed
# trial runs again up to TRIAL_RETRIES times; one that runs past TRIAL_TIMEOUT is stopped and
# counts as failed (and is retried as any failure).
_metrics = []
for _trial, _config in TRIALS if SEARCH == "grid" else ():
    _folder = trial_dir(_trial)
    task(
        [f"{_folder}/metrics.json", f"{_folder}/model.pkl"],
        deps=[SPLITS["train"], SPLITS["val"]],
        recipe=train_trial,
        args=(_trial, _config),
        doc=f"Train {_config['model']} {_params(_config)}",
        retries=TRIAL_RETRIES,
        timeout=TRIAL_TIMEOUT,
        # Recorded with each run, for `minimake --results --sort val_accuracy`: the table of
        # every trial ever run, which outlives the grid and `minimake clean`.
        params=_config,
        metrics=f"{_folder}/metrics.json",
    )
    _metrics.append(f"{_folder}/metrics.json")

# The gather: only the current grid's trials are deps, and hparams.json is one too, so removing
# a configuration (which trains nothing) still re-collates. It allows failed deps: under -k it
# runs once every trial has ended, over the ones that succeeded (minimake.failed_deps() names
# the others); once a failed trial is fixed, make's rule reruns it and then the collate.
if SEARCH == "grid":
    task(
        [RESULTS, BEST],
        deps=[HPARAMS, SPLITS["test"], *_metrics],
        recipe=collate,
        args=(GRID, EXTRA),
        allow_failed_deps=True,
    )

phony("all", deps=[BEST], default=True, doc="Run the search and pick the best configuration.")
phony("clean", recipe="rm -rf dist", doc="Remove everything the search wrote.")
