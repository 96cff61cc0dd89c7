"""The scatter/gather tutorial for minimake: the same graph as the Makefile beside it.

Run `minimake -j2`, then `minimake -n` (nothing to do) and `minimake clean`.
"""

from minimake import phony, task, var

PYTHON = var("PYTHON", "python3")
MODELS = ["a", "b"]

# prep writes two files; the stamp stands for both, as in the Makefile. (minimake could declare
# task(["data/train.csv", "data/test.csv"], ...) instead; the stamp keeps the two outputs equal.)
task(
    "data/prep.stamp",
    deps=["raw.csv", "prep.py"],
    recipe=["mkdir -p data", f"{PYTHON} prep.py raw.csv data", 'touch "$TARGET"'],
)

# The scatter: make's pattern rule models/%.json becomes a loop; $TARGET is make's $@.
for name in MODELS:
    task(
        f"models/{name}.json",
        deps=["data/prep.stamp", "train.py"],
        recipe=["mkdir -p models", f'{PYTHON} train.py {name} data "$TARGET"'],
    )

# The gather.
reports = [f"models/{name}.json" for name in MODELS]
task(
    "report.txt",
    deps=[*reports, "collate.py"],
    recipe=f'{PYTHON} collate.py {" ".join(reports)} > "$TARGET"',
)

phony("all", deps=["report.txt"], default=True)
phony("clean", recipe="rm -rf data models report.txt")
