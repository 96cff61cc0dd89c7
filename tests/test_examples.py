"""Each example builds in a temporary copy, and builds again with nothing to do."""

from __future__ import annotations

import filecmp
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import needs_make

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
NOTHING_TO_DO = "minimake: Nothing to be done for 'all'."


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def run(folder: Path, *command: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        command, cwd=folder, env=_env(), capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, f"{command} exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


def minimake(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run(folder, sys.executable, "-m", "minimake", *args)


def copy_example(name: str, destination: Path) -> Path:
    return Path(shutil.copytree(EXAMPLES / name, destination / name))


def tree(folder: Path) -> set[str]:
    """Every file under ``folder``, relative, without Python's caches and minimake's state."""
    return {
        str(path.relative_to(folder))
        for path in folder.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and ".minimake" not in path.parts
    }


@needs_make
def test_seed_makefile_make_and_minimake_write_the_same_files(tmp_path: Path) -> None:
    with_make = copy_example("seed_makefile", tmp_path / "make")
    with_minimake = copy_example("seed_makefile", tmp_path / "minimake")
    run(with_make, "make", "-j2")
    minimake(with_minimake, "-j2")

    files = tree(with_make)
    assert tree(with_minimake) == files
    assert {"data/train.csv", "data/test.csv", "data/prep.stamp", "report.txt"} <= files
    _, mismatch, errors = filecmp.cmpfiles(with_make, with_minimake, sorted(files), shallow=False)
    assert (mismatch, errors) == ([], [])
    assert (with_minimake / "report.txt").read_text().endswith("best: b\n")


@needs_make
def test_seed_makefile_both_tools_agree_on_what_is_stale(tmp_path: Path) -> None:
    """After a trainer edit, both remake the two models and the report, and not prep."""
    with_make = copy_example("seed_makefile", tmp_path / "make")
    with_minimake = copy_example("seed_makefile", tmp_path / "minimake")
    run(with_make, "make")
    minimake(with_minimake)
    assert "Nothing to be done for 'all'." in run(with_make, "make", "-n").stdout
    assert NOTHING_TO_DO in minimake(with_minimake, "-n").stdout
    for folder in (with_make, with_minimake):
        future = (folder / "report.txt").stat().st_mtime + 60
        os.utime(folder / "train.py", (future, future))
    by_make = run(with_make, "make", "-n").stdout
    by_minimake = minimake(with_minimake, "-n").stdout
    for output in (by_make, by_minimake):
        assert "prep.py" not in output
        assert "train.py a" in output
        assert "train.py b" in output
        assert "collate.py" in output


def test_shell_pipeline(tmp_path: Path) -> None:
    folder = copy_example("shell_pipeline", tmp_path)
    minimake(folder, "-j2")
    top = (folder / "out/top-3.txt").read_text().split()
    assert top == ["5", "make", "3", "minimake", "3", "ninja"]
    header = (folder / "gen/words.h").read_text()
    assert "extern const char *words[15];" in header
    assert (folder / "gen/words.c").read_text().count('",') == 15
    assert "distinct: 6" in (folder / "out/summary.txt").read_text()
    assert NOTHING_TO_DO in minimake(folder, "-n").stdout

    # Another N asks for another file; nothing else is stale.
    output = minimake(folder, "N=2").stdout
    assert [line for line in output.splitlines() if line.strip()] == [
        'sort words.txt | uniq -c | sort -k1,1nr -k2 | head -n 2 > "out/top-2.txt"'
    ]
    assert len((folder / "out/top-2.txt").read_text().splitlines()) == 2

    minimake(folder, "clean")
    assert tree(folder) == {"tasks.py", "words.txt", "README.md"}


def test_engine_api(tmp_path: Path) -> None:
    folder = copy_example("engine_api", tmp_path)
    done = run(folder, sys.executable, "build.py")
    assert "first build: ok=True" in done.stdout
    assert "second build: ok=True" in done.stdout
    assert NOTHING_TO_DO in done.stdout
    total = json.loads((folder / "out/total.json").read_text())
    assert len(total["counts"]) == 6
    assert total["total"] == sum(total["counts"].values())
    assert "None" not in done.stdout  # an up-to-date task has no reason, shown as nothing
    run(folder, sys.executable, "build.py", "clean")
    assert not (folder / "out").exists()
