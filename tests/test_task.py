"""Task declarations: the call forms, the decorator, validation messages, variables."""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable
from pathlib import Path

import attrs
import pytest

from minimake import Task, phony, task, var
from minimake.errors import TaskDefinitionError, TasksFileError
from minimake.load import load_tasks
from minimake.task import collecting, describe_recipe
from tests.conftest import write_tasks


def fit(alpha: float, seed: int = 0) -> None:
    """Fit one model."""


class TestCallForms:
    def test_single_target_shell_recipe(self) -> None:
        """A string target and a string recipe."""
        declared = task("out/b.txt", deps=["a.txt"], recipe="sort a.txt > out/b.txt")
        assert declared.name == "out/b.txt"
        assert declared.targets == ("out/b.txt",)
        assert declared.deps == ("a.txt",)
        assert declared.recipe == "sort a.txt > out/b.txt"

    def test_all_deps_are_deps_then_order_only_deps(self) -> None:
        declared = task("out", deps=["b", "a"], order_only=["dir"])
        assert declared.all_deps == ("b", "a", "dir")

    def test_multi_target_recipe_list(self) -> None:
        """A list of targets is named by the first; a list recipe becomes a tuple of lines."""
        declared = task(["x.h", "x.c"], deps=["x.y"], recipe=["yacc x.y", "mv y.tab.c x.c"])
        assert declared.name == "x.h"
        assert declared.outputs == ("x.h", "x.c")
        assert declared.recipe == ("yacc x.y", "mv y.tab.c x.c")

    def test_callable_with_args(self) -> None:
        """A callable recipe keeps its args and kwargs and takes its docstring as doc."""
        declared = task("m.pkl", deps=["d.csv"], recipe=fit, args=(0.1,), kwargs={"seed": 3})
        assert declared.args == (0.1,)
        assert declared.keyword_arguments == {"seed": 3}
        assert declared.doc == "Fit one model."
        assert describe_recipe(declared) == ["fit(0.1, seed=3)"]

    def test_partial_is_described_by_what_it_wraps(self) -> None:
        declared = task("m.pkl", recipe=functools.partial(fit, 0.2))
        assert describe_recipe(declared) == ["partial(fit)()"]

    def test_phony_writes_nothing(self) -> None:
        declared = phony("all", deps=["a", "b"])
        assert declared.phony
        assert declared.outputs == ()

    def test_single_dep_string(self) -> None:
        """deps="a.txt" is one dep, not four letters."""
        assert task("b", deps="a.txt").deps == ("a.txt",)

    def test_decorator_makes_the_function_the_recipe(self) -> None:
        with collecting(None, {}) as tasks:

            @task("out.json", deps=["in.txt"])
            def make_out() -> None:
                """Write out.json."""

        assert len(tasks) == 1
        assert tasks[0].recipe is make_out
        assert tasks[0].doc == "Write out.json."
        assert make_out.__name__ == "make_out"  # the function itself stays usable


# Task.create builds a task with no args, kwargs, resources or triggers without the attrs
# __init__: whatever it is given, it must give the Task (or the error) that __init__ gives.
# (deps as a function: a fresh value for each of the two, so an iterator is read once.)
_PLAIN = (
    {"targets": "out/1", "deps": lambda: ["src/1", "prep.out"], "recipe": "touch out/1"},
    {"targets": ["./a", "b/"], "deps": lambda: "x//y", "order_only": ["d/."], "recipe": ["a"]},
    {"targets": Path("p"), "deps": lambda: (Path("q"),), "recipe": fit, "doc": "f", "default": 1},
    {"targets": "all", "deps": lambda: iter(["a", "b"]), "phony": True, "doc": "d"},
    {"targets": "a", "order_only": "o", "recipe": None},
    {"targets": []},
    {"targets": ["a", ""]},
    {"targets": ["a", "b"], "phony": True},
    {"targets": "a", "deps": lambda: 3},
    {"targets": "a", "deps": lambda: ["b", None]},
    {"targets": "a", "order_only": [None]},
    {"targets": "a", "recipe": 42},
    {"targets": "a", "recipe": "  "},
    {"targets": "a", "recipe": ["echo", ""]},
)


class TestValidation:
    @pytest.mark.parametrize(
        ("kwargs", "field", "problem"),
        [
            ({"targets": []}, "targets", "must name at least one target"),
            ({"targets": ["a", ""]}, "targets", "non-empty strings"),
            ({"targets": "a", "deps": 3}, "deps", "non-empty strings (got 3)"),
            ({"targets": "a", "recipe": 42}, "recipe", "must be a command"),
            ({"targets": "a", "recipe": "echo", "args": (1,)}, "args", "only for a Python"),
            ({"targets": "a", "order_only": [None]}, "order_only", "got None"),
            ({"targets": "a", "recipe": print, "console": True}, "console", "shell recipes"),
            (
                {"targets": "a", "recipe": "read x", "console": True, "timeout": 5},
                "timeout",
                "cannot limit a console task",
            ),
        ],
    )
    def test_bad_field_names_task_and_field(self, kwargs: dict, field: str, problem: str) -> None:
        """Every bad value is reported with the task, the field and the value."""
        with pytest.raises(TaskDefinitionError) as caught:
            Task.create(**kwargs)
        assert caught.value.field == field
        assert problem in str(caught.value)
        assert "test_task.py:" in str(caught.value)  # where it was declared

    def test_a_phony_task_may_name_a_group(self) -> None:
        """make's `.PHONY: g1 g2` with `g1 g2 &:`: one phony task, named by its first name,
        that writes no file."""
        group = Task.create(["g1", "g2"], recipe="echo", phony=True)
        assert (group.name, group.targets, group.outputs) == ("g1", ("g1", "g2"), ())
        with pytest.raises(TaskDefinitionError, match="non-empty strings"):
            Task.create(["g1", ""], phony=True)

    @pytest.mark.parametrize("validate", [True, False])
    @pytest.mark.parametrize("fields", _PLAIN)
    def test_a_plain_task_is_what_attrs_init_makes(self, fields: dict, validate: bool) -> None:
        def made(build: Callable[..., Task]) -> object:
            given = {k: v() if k == "deps" else v for k, v in fields.items()}
            with contextlib.nullcontext() if validate else attrs.validators.disabled():
                try:
                    declared = build(**given)
                except TaskDefinitionError as error:
                    return {"error": (error.task, error.field, error.problem), "at": error.location}
            return attrs.asdict(declared, recurse=False)

        created = made(Task.create)
        location = created.get("location", created.get("at"))
        assert created == made(functools.partial(Task, location=location))
        assert location.endswith(f"{os.sep}test_task.py:{made.__code__.co_firstlineno + 4}")

    def test_tasks_are_frozen(self) -> None:
        declared = task("a")
        with pytest.raises(AttributeError):
            declared.deps = ("b",)  # type: ignore[misc]


class TestLoading:
    def test_load_returns_tasks_in_order_with_locations(self, tmp_path: Path) -> None:
        path = write_tasks(
            tmp_path,
            """\
            from minimake import task, phony
            task("a", recipe="touch a")
            phony("all", deps=["a"])
            """,
        )
        tasks = load_tasks(path)
        assert [t.name for t in tasks] == ["a", "all"]
        assert tasks[0].location == "tasks.py:2"
        assert tasks[0].source == str(path)

    def test_variables_come_from_command_line_then_environment(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        path = write_tasks(
            tmp_path,
            """\
            from minimake import task, var
            task(var("A", "a-default"))
            task(var("B", "b-default"))
            task(var("C", "c-default"))
            """,
        )
        monkeypatch.setenv("B", "b-from-env")
        monkeypatch.setenv("A", "a-from-env")
        names = [t.name for t in load_tasks(path, {"A": "a-from-cli"})]
        assert names == ["a-from-cli", "b-from-env", "c-default"]

    def test_var_outside_a_tasks_file_reads_the_environment(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("MINIMAKE_TEST_VAR", "x")
        assert var("MINIMAKE_TEST_VAR") == "x"
        assert var("MINIMAKE_TEST_UNSET", "d") == "d"

    @pytest.mark.parametrize(
        ("source", "line", "text"),
        [
            ("from minimake import task\ntask('a' recipe='x')\n", 2, "comma"),
            ("from minimake import task\ntask('a')\nx = 1 / 0\n", 3, "ZeroDivisionError"),
            ("from minimake import task\n\ntask('a', deps=3)\n", 3, "'deps' must hold"),
        ],
    )
    def test_broken_file_names_file_and_line(
        self, tmp_path: Path, source: str, line: int, text: str
    ) -> None:
        path = tmp_path / "tasks.py"
        path.write_text(source)
        with pytest.raises((TasksFileError, TaskDefinitionError)) as caught:
            load_tasks(path)
        assert f"tasks.py:{line}" in str(caught.value)
        assert text in str(caught.value)

    def test_missing_file(self, tmp_path: Path) -> None:
        with pytest.raises(TasksFileError, match="No such file"):
            load_tasks(tmp_path / "nope.py")


def test_each_task_names_its_own_line_in_a_loop_and_in_many_calls(tmp_path: Path) -> None:
    """A loop's call site is looked up once; past a few call sites the line table takes over:
    every task still names the line that declared it."""
    explicit = "\n".join(f'task("e{index}", recipe="x")' for index in range(20))
    source = f"from minimake import task\n\nfor n in range(3):\n    task(f'l{{n}}')\n{explicit}\n"
    loaded = load_tasks(write_tasks(tmp_path, source, "lines.py"))
    assert [t.location for t in loaded[:3]] == ["lines.py:4"] * 3
    assert [t.location for t in loaded[3:]] == [f"lines.py:{5 + i}" for i in range(20)]
