"""preload(): modules each process-pool worker imports as it starts."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from minimake import preload
from minimake.errors import TaskDefinitionError
from tests.conftest import cli

TASKS = """
    import os, sys, time
    from minimake import preload, task

    preload("marker", "no_such_module_for_minimake")

    def check(name, other=None):
        # Meet the other recipe, so that both run at once, each on a worker of its own.
        open(name + ".started", "w").close()
        while other and not os.path.exists(other + ".started"):
            time.sleep(0.01)
        with open(name, "w") as out:
            out.write(str("marker" in sys.modules))

    task("a.txt", recipe=check, args=("a.txt", "b.txt"))
    task("b.txt", recipe=check, args=("b.txt", "a.txt"))
"""

# Importing it leaves a file named after the importing process.
MARKER = "import os\nopen(f'imported-{os.getpid()}', 'w').close()\n"


def test_every_worker_imports_the_preloaded_modules_before_its_first_recipe(
    project: Callable[[str], Path],
) -> None:
    folder = project(TASKS)
    (folder / "marker.py").write_text(MARKER)
    done = cli("-j2", "a.txt", "b.txt", cwd=folder, env={"PYTHONPATH": str(folder)})
    assert done.returncode == 0, done.stderr
    # The recipes never import it, yet it is there: the worker did, as it started.
    assert (folder / "a.txt").read_text() == "True"
    assert (folder / "b.txt").read_text() == "True"
    # Once in each of the two workers (the recipes met, so each had one), not in minimake
    # itself (forked workers would then inherit it and import nothing), and a module that
    # fails to import stops nothing.
    assert len(list(folder.glob("imported-*"))) == 2


def test_a_build_without_python_recipes_imports_nothing(project: Callable[[str], Path]) -> None:
    folder = project(
        TASKS.replace('task("b.txt", recipe=check, args=("b.txt", "a.txt"))', "").replace(
            'recipe=check, args=("a.txt", "b.txt")', 'recipe="echo shell > a.txt"'
        )
    )
    (folder / "marker.py").write_text(MARKER)
    done = cli("a.txt", cwd=folder, env={"PYTHONPATH": str(folder)})
    assert done.returncode == 0, done.stderr
    assert list(folder.glob("imported-*")) == []


def test_preload_belongs_in_a_tasks_file() -> None:
    with pytest.raises(TaskDefinitionError, match="is for a tasks file"):
        preload("json")
