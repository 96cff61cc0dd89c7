"""Running one recipe: shell lines, Python calls, captured output, how failures read."""

from __future__ import annotations

import os
import pickle
import signal
from pathlib import Path

import pytest

from minimake.execution import recipes, spawn
from minimake.execution.capture import Capture
from minimake.execution.recipes import PythonSpec, ShellSpec
from minimake.result import Outcome
from minimake.words import signal_name


def shell(tmp_path: Path, commands: tuple[str, ...], **kw: object) -> ShellSpec:
    return ShellSpec("t", str(tmp_path), commands, Capture(str(tmp_path), True), **kw)  # type: ignore[arg-type]


def python(tmp_path: Path, **kw: object) -> PythonSpec:
    return PythonSpec("t", str(tmp_path), Capture(str(tmp_path), True), **kw)  # type: ignore[arg-type]


def run(spec: ShellSpec | PythonSpec) -> Outcome:
    """Run a spec and read its output back, as a Dask worker sends it."""
    return recipes.inline(recipes.run(spec))


def _hello(name: str, punctuation: str = "!") -> None:
    print(f"hello {name}{punctuation}")


def _fail() -> None:
    print("before")
    raise RuntimeError("no luck")


def test_shell_lines_run_in_order_in_cwd_with_env(tmp_path: Path) -> None:
    spec = shell(tmp_path, ("echo $WHO", "pwd"), env=(("WHO", "world"),), echo=True)
    outcome = run(spec)
    assert outcome.ok
    assert outcome.output == f"world\npwd\n{tmp_path}\n"  # later lines echoed as they run


def test_shell_failure_stops_and_reports_status(tmp_path: Path) -> None:
    outcome = run(shell(tmp_path, ("echo one", "exit 4", "echo three")))
    assert (outcome.ok, outcome.returncode, outcome.output) == (False, 4, "one\n")


def test_ignore_errors_runs_every_line_and_keeps_the_first_status(tmp_path: Path) -> None:
    spec = shell(tmp_path, ("exit 4", "exit 5", "echo end"), ignore_errors=True, where="[t]")
    outcome = run(spec)
    # Each failure is said right after its line, as make does, and the outcome says so.
    said = "minimake: [t] Error 4 (ignored)\nminimake: [t] Error 5 (ignored)\n"
    assert (outcome.ok, outcome.returncode, outcome.output) == (False, 4, said + "end\n")
    assert outcome.reported


def test_killed_shell_reports_the_signal(tmp_path: Path) -> None:
    outcome = run(shell(tmp_path, ("kill -TERM $$",)))
    assert outcome.signal == signal.SIGTERM
    assert signal_name(signal.SIGTERM) == "Terminated"


def test_python_payload_call_and_output(tmp_path: Path) -> None:
    payload = pickle.dumps((_hello, ("you",), {"punctuation": "?"}))
    outcome = run(python(tmp_path, payload=payload))
    assert outcome.ok
    assert outcome.output == "hello you?\n"


def test_python_exception_is_an_outcome_not_a_raise(tmp_path: Path) -> None:
    outcome = run(python(tmp_path, call=(_fail, (), {})))
    assert not outcome.ok
    assert outcome.error == "RuntimeError: no luck"
    assert outcome.output == "before\n"
    assert "_fail" in (outcome.traceback or "")


def test_outputs_are_stated_where_the_recipe_ran(tmp_path: Path) -> None:
    spec = shell(tmp_path, ("touch made",), outputs=("made", "never"))
    mtimes = dict(run(spec).mtimes)
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
    argv = spawn.argv(line)
    assert (argv == line.split()) is direct
    if not direct:
        assert argv == ["/bin/sh", "-c", line]


def test_a_missing_program_fails_as_in_make(tmp_path: Path) -> None:
    outcome = run(shell(tmp_path, ("no-such-program-x y", "echo after")))
    assert outcome.returncode == 127
    assert outcome.output == "minimake: no-such-program-x: No such file or directory\n"


def test_the_shell_executor_runs_recipes_at_once_and_completes_each(tmp_path: Path) -> None:
    """Two recipes meet on a FIFO: each can only finish if both run at the same time."""
    os.mkfifo(tmp_path / "meet")
    executor = spawn.ShellExecutor()
    try:
        reader = executor.submit(spawn.run, shell(tmp_path, ("cat meet", "echo read")))
        writer = executor.submit(spawn.run, shell(tmp_path, ("echo hello > meet",)))
        outcomes = [recipes.inline(f.result(timeout=60)) for f in (reader, writer)]
    finally:
        executor.shutdown()
    assert [o.ok for o in outcomes] == [True, True]
    assert outcomes[0].output == "hello\nread\n"


def test_the_shell_executor_runs_nothing_but_shell_recipes() -> None:
    executor = spawn.ShellExecutor()
    with pytest.raises(TypeError):
        executor.submit(print, "x")
    executor.shutdown()


def test_the_shell_executor_names_each_line_s_process_group(tmp_path: Path) -> None:
    started: list[tuple[str, int]] = []
    executor = spawn.ShellExecutor(lambda name, group: started.append((name, group)))
    try:
        spec = shell(tmp_path, ("sh -c 'ps -o pgid= -p $$ > g1'", "sh -c 'ps -o pgid= -p $$ > g2'"))
        assert executor.submit(spawn.run, spec).result(timeout=60).ok
    finally:
        executor.shutdown()
    groups = [int((tmp_path / name).read_text()) for name in ("g1", "g2")]
    assert started == [("t", groups[0]), ("t", groups[1])]
    assert os.getpgrp() not in groups
