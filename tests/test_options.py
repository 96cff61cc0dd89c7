"""Options: one build's flags as a value, checked when made, before anything is read or run."""

from __future__ import annotations

import os
from pathlib import Path

import attrs
import pytest

from minimake.errors import UsageError
from minimake.options import Options
from minimake.resources import ResourceError
from tests.conftest import cli, write_tasks


@pytest.mark.parametrize(
    ("fields", "error", "message"),
    [
        ({"jobs": 0}, UsageError, "'jobs' must be at least 1 (got 0)"),
        (
            {"executor": "ray"},
            UsageError,
            "Unknown executor 'ray': choose process, thread or dask.",
        ),
        (
            {"scheduler": "tcp://x:1", "scheduler_file": "s.json"},
            UsageError,
            "Give a Dask scheduler address or a scheduler file, not both.",
        ),
        (
            {"executor": "thread", "scheduler": "tcp://x:1"},
            UsageError,
            "A Dask scheduler needs the dask executor (got 'thread').",
        ),
        ({"rerun_triggers": "recipe"}, UsageError, "--rerun-triggers: 'mtime' is always"),
        ({"resources": {"gpu": -1}}, ResourceError, "Resource limit "),
    ],
)
def test_bad_options_are_refused_when_made(
    fields: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as raised:
        Options(**fields)  # type: ignore[arg-type]
    assert str(raised.value).startswith(message)


def test_options_are_a_frozen_value(tmp_path: Path) -> None:
    options = Options(file=tmp_path / "tasks.py", goals=["all"], variables={"B": "2", "A": "1"})
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        options.jobs = 2  # type: ignore[misc]
    assert options.file == str(tmp_path / "tasks.py")
    assert options.folder == str(tmp_path)  # a tasks file's folder is the build's root
    assert options.goals == ("all",)
    assert options.variables == (("B", "2"), ("A", "1"))  # in the order given: the environment
    assert options == Options(
        file=str(tmp_path / "tasks.py"), goals=("all",), variables=options.variables
    )


def test_tasks_in_code_build_in_root_else_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert Options(root=tmp_path).folder == str(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert Options().folder == os.getcwd()
    assert Options().executor_kind == "process"
    assert Options(scheduler="tcp://x:1").executor_kind == "dask"


def test_pretend_is_dry_run_or_question() -> None:
    assert not Options().pretend
    assert Options(dry_run=True).pretend
    assert Options(question=True).pretend
    assert not Options(touch=True).pretend  # -t changes files: it takes the lock


def test_list_and_graph_read_no_flag_meant_for_a_build(tmp_path: Path) -> None:
    """Given flags only a build reads, wrong ones: --list and --graph still answer, as before
    there was one Options value; a build refuses them."""
    write_tasks(tmp_path, 'from minimake import task\ntask("a", recipe="touch a")\n')
    bad = ("--rerun-triggers", "bogus", "--resource", "gpu")
    assert cli("--list", *bad, cwd=tmp_path).stdout == "* a\n"
    assert cli("--graph", *bad, cwd=tmp_path).returncode == 0
    refused = cli(*bad, cwd=tmp_path)
    assert refused.returncode == 2
    assert "--resource" in refused.stderr
