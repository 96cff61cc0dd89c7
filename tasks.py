"""The main job: a scatter/gather hyperparameter search with scikit-learn on its digits set.

    minimake -j2                       # the default grid (24 trials)
    minimake -j2 GRID=small            # 5 fast trials (the tests use it)
    minimake -j10 GRID=wide            # 60 trials, for ten cores and more
    minimake EXTRA='{"model": "svc", "C": 3.0}'    # add configurations (a JSON object or list)
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

from minimake import failed_deps, phony, preload, rerun_triggers, task, var

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

# The scatter: each trial depends only on the splits it reads and on its own configuration,
# which is in its id (its folder) and its args, never on hparams.json as a whole. A failed
# trial runs again up to TRIAL_RETRIES times; one that runs past TRIAL_TIMEOUT is stopped and
# counts as failed (and is retried as any failure).
_metrics = []
for _trial, _config in TRIALS:
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
task(
    [RESULTS, BEST],
    deps=[HPARAMS, SPLITS["test"], *_metrics],
    recipe=collate,
    args=(GRID, EXTRA),
    allow_failed_deps=True,
)

phony("all", deps=[BEST], default=True, doc="Run the search and pick the best configuration.")
phony("clean", recipe="rm -rf dist", doc="Remove everything the search wrote.")
