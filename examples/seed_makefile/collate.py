"""Collate: one line per model, best (lowest test error) first, on stdout.

Usage: python3 collate.py MODEL.json...
"""

import json
import sys
from pathlib import Path


def main(paths: list[str]) -> None:
    models = [json.loads(Path(path).read_text()) for path in paths]
    models.sort(key=lambda model: (model["test_mse"], model["name"]))
    print("model  test_mse")
    for model in models:
        print(f"{model['name']:<6} {model['test_mse']}")
    print(f"best: {models[0]['name']}")


if __name__ == "__main__":
    main(sys.argv[1:])
