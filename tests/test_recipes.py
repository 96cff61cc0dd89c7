"""Running one recipe: shell lines, Python calls, captured output, how failures read."""

from __future__ import annotations

import pickle
import signal
from pathlib import Path

import pytest

from minimake import recipes
from minimake.recipes import RecipeSpec


def _hello(name: str, punctuation: str = "!") -> None:
    print(f"hello {name}{punctuation}")


def _fail() -> None:
    print("before")
    raise RuntimeError("no luck")


def test_shell_lines_run_in_order_in_cwd_with_env(tmp_path: Path) -> None:
    spec = RecipeSpec(
        "t", str(tmp_path), env=(("WHO", "world"),), commands=("echo $WHO", "pwd"), echo=True
    )
    outcome = recipes.run(spec)
    assert outcome.ok
    assert outcome.output == f"world\npwd\n{tmp_path}\n"  # later lines echoed as they run


def test_shell_failure_stops_and_reports_status(tmp_path: Path) -> None:
    spec = RecipeSpec("t", str(tmp_path), commands=("echo one", "exit 4", "echo three"))
    outcome = recipes.run(spec)
    assert (outcome.ok, outcome.returncode, outcome.output) == (False, 4, "one\n")


def test_ignore_errors_runs_every_line_and_keeps_the_first_status(tmp_path: Path) -> None:
    spec = RecipeSpec(
        "t", str(tmp_path), commands=("exit 4", "exit 5", "echo end"), ignore_errors=True
    )
    outcome = recipes.run(spec)
    assert (outcome.ok, outcome.returncode, outcome.output) == (False, 4, "end\n")


def test_killed_shell_reports_the_signal(tmp_path: Path) -> None:
    outcome = recipes.run(RecipeSpec("t", str(tmp_path), commands=("kill -TERM $$",)))
    assert outcome.signal == signal.SIGTERM
    assert recipes.signal_name(signal.SIGTERM) == "Terminated"


def test_python_payload_call_and_output(tmp_path: Path) -> None:
    payload = pickle.dumps((_hello, ("you",), {"punctuation": "?"}))
    outcome = recipes.run(RecipeSpec("t", str(tmp_path), payload=payload))
    assert outcome.ok
    assert outcome.output == "hello you?\n"


def test_python_exception_is_an_outcome_not_a_raise(tmp_path: Path) -> None:
    outcome = recipes.run(RecipeSpec("t", str(tmp_path), call=(_fail, (), {})))
    assert not outcome.ok
    assert outcome.error == "RuntimeError: no luck"
    assert outcome.output == "before\n"
    assert "_fail" in (outcome.traceback or "")


def test_outputs_are_stated_where_the_recipe_ran(tmp_path: Path) -> None:
    spec = RecipeSpec("t", str(tmp_path), commands=("touch made",), outputs=("made", "never"))
    mtimes = dict(recipes.run(spec).mtimes)
    assert mtimes["made"] is not None
    assert mtimes["never"] is None


@pytest.mark.parametrize(
    ("line", "direct"),
    [
        ("touch out/1", True),
        ("cp a.txt b.txt", True),
        ("sort a.txt > b.txt", False),  # a redirection needs the shell
        ("echo $TARGET", False),
        ("echo hi", False),  # a builtin: /bin/echo reads its options differently
        ("exit 3", False),
        ("X=1 env", False),
        ("cd sub && make", False),
    ],
)
def test_simple_lines_skip_the_shell_as_make_does(line: str, direct: bool) -> None:
    argv = recipes._argv(line)
    assert (argv == line.split()) is direct
    if not direct:
        assert argv == ["/bin/sh", "-c", line]


def test_missing_program_fails_as_the_shell_would(tmp_path: Path) -> None:
    outcome = recipes.run(RecipeSpec("t", str(tmp_path), commands=("no-such-program-x y",)))
    assert outcome.returncode == 127
    assert "no-such-program-x: not found" in outcome.output
