"""Prep: drop rows that are not two numbers, then split into train and test CSV files.

Usage: python3 prep.py RAW OUT_DIR
"""

import csv
import math
import sys
from pathlib import Path


def clean_rows(path: str) -> list[tuple[float, float]]:
    """The (x, y) rows of ``path`` whose two values are finite numbers."""
    rows = []
    with open(path, newline="") as handle:
        for record in csv.DictReader(handle):
            try:
                x, y = float(record["x"]), float(record["y"])
            except (TypeError, ValueError):
                continue
            if math.isfinite(x) and math.isfinite(y):
                rows.append((x, y))
    return rows


def write(path: Path, rows: list[tuple[float, float]]) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["x", "y"])
        writer.writerows(rows)


def main(raw: str, out_dir: str) -> None:
    rows = clean_rows(raw)
    # Every fourth row is held out: deterministic, so make and minimake write the same files.
    test = rows[3::4]
    train = [row for index, row in enumerate(rows) if index % 4 != 3]
    write(Path(out_dir, "train.csv"), train)
    write(Path(out_dir, "test.csv"), test)
    print(f"{len(train)} train rows, {len(test)} test rows")


if __name__ == "__main__":
    main(*sys.argv[1:])
