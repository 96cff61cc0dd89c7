"""Train one model on the train split, score it on the test split, write it as JSON.

Usage: python3 train.py NAME DATA_DIR OUT.json   (NAME: a = predict the mean, b = a straight line)
"""

import csv
import json
import statistics
import sys
from pathlib import Path


def read(path: Path) -> tuple[list[float], list[float]]:
    with open(path, newline="") as handle:
        rows = [(float(r["x"]), float(r["y"])) for r in csv.DictReader(handle)]
    return [x for x, _ in rows], [y for _, y in rows]


def fit(name: str, xs: list[float], ys: list[float]) -> dict[str, float]:
    if name == "a":
        return {"slope": 0.0, "intercept": statistics.fmean(ys)}
    if name == "b":
        line = statistics.linear_regression(xs, ys)
        return {"slope": line.slope, "intercept": line.intercept}
    raise SystemExit(f"train.py: unknown model '{name}' (expected a or b)")


def main(name: str, data_dir: str, out: str) -> None:
    params = fit(name, *read(Path(data_dir, "train.csv")))
    xs, ys = read(Path(data_dir, "test.csv"))
    predictions = [params["slope"] * x + params["intercept"] for x in xs]
    errors = [(p - y) ** 2 for p, y in zip(predictions, ys, strict=True)]
    model = {"name": name, **{k: round(v, 6) for k, v in params.items()}}
    model["test_mse"] = round(statistics.fmean(errors), 6)
    Path(out).write_text(json.dumps(model, indent=2, sort_keys=True) + "\n")
    print(f"model {name}: test MSE {model['test_mse']}")


if __name__ == "__main__":
    main(*sys.argv[1:])
