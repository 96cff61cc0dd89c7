"""Recipe signatures: what changes one, what does not, and how the change is said."""

from __future__ import annotations

import functools
import textwrap
from pathlib import Path
from typing import Any

import pytest

from minimake.signature import Signature, changes, of
from minimake.task import Task
from minimake.uptodate import ReasonKind, why_changed
from tests.conftest import cli


def module(source: str) -> dict[str, Any]:
    """The namespace of ``source`` run as a module named ``tasks`` (a tasks.py)."""
    namespace: dict[str, Any] = {"__name__": "tasks"}
    exec(compile(textwrap.dedent(source), "tasks.py", "exec"), namespace)
    return namespace


FIT = """
def helper(x):
    return x * 2

def fit(rate, steps=3):
    \"\"\"Fit the model.\"\"\"
    total = 0
    for _ in range(steps):
        total += helper(rate)
    return total
"""


def python_task(function: Any, args: tuple[Any, ...] = (0.1,), **kwargs: Any) -> Task:
    return Task(targets="model.pkl", recipe=function, args=args, kwargs=kwargs)


def change(old: Task, new: Task) -> str | None:
    before, after = of(old), of(new)
    assert before is not None
    assert after is not None
    # Through the journal's text form, as a later run sees it.
    reason = why_changed(before.dumps(), after)
    if reason is None:
        return None
    assert reason.kind is ReasonKind.RECIPE_CHANGED
    return str(reason)


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        # Comments, blank lines and moved code are no behaviour.
        (lambda s: "# a comment\n\n\n" + s.replace("total = 0", "total = 0  # start"), None),
        (lambda s: s.replace("Fit the model.", "Fit the model, better said."), None),
        (lambda s: s.replace("total += helper", "total -= helper"), "code of fit changed"),
        (lambda s: s.replace("range(steps)", "range(steps + 1)"), "code of fit changed"),
        (lambda s: s.replace("steps=3", "steps=4"), "code of fit changed"),
        (lambda s: s.replace("x * 2", "x * 3"), "code of fit changed"),  # a helper it calls
        (lambda s: s.replace("total = 0", "total = 0.0"), "code of fit changed"),
    ],
)
def test_python_code_edits(edit: Any, expected: str | None) -> None:
    old = module(FIT)["fit"]
    new = module(edit(FIT))["fit"]
    assert change(python_task(old), python_task(new)) == expected


def test_arguments_are_compared_and_shown() -> None:
    fit = module(FIT)["fit"]
    assert change(python_task(fit, (0.1,)), python_task(fit, (0.2,))) == "args (0.1,) -> (0.2,)"
    assert change(python_task(fit, steps=1), python_task(fit, steps=2)) == (
        "kwargs {'steps': 1} -> {'steps': 2}"
    )
    assert change(python_task(fit), python_task(fit)) is None


def test_long_arguments_are_shortened_but_compared_whole() -> None:
    fit = module(FIT)["fit"]
    old, new = {"x": "a" * 100 + "1"}, {"x": "a" * 100 + "2"}
    said = change(python_task(fit, (old,)), python_task(fit, (new,)))
    assert said is not None
    assert said.startswith("args ({'x': 'aaaa")
    assert len(said) < 150


def test_another_function_is_named() -> None:
    names = module(FIT + "\ndef train(rate, steps=3):\n    return rate\n")
    said = change(python_task(names["fit"]), python_task(names["train"]))
    assert said == "recipe fit -> train"


def test_partials_and_callable_objects() -> None:
    fit = module(FIT)["fit"]
    one, two = functools.partial(fit, steps=1), functools.partial(fit, steps=2)
    assert change(python_task(one), python_task(two)) == "code of partial(fit) changed"

    class Fitter:
        def __call__(self, rate: float) -> float:
            return rate

    assert change(python_task(Fitter()), python_task(Fitter())) is None  # no address compared


def test_shell_recipes_compare_their_lines_as_written() -> None:
    one = Task(targets="a.txt", recipe="echo $N > a.txt")
    assert change(one, Task(targets="a.txt", recipe="echo $N > a.txt")) is None
    assert change(one, Task(targets="a.txt", recipe="echo 10 > a.txt")) == "command line changed"
    lines = Task(targets="a.txt", recipe=["echo 1", "echo 2"])
    assert change(lines, Task(targets="a.txt", recipe=["echo 1", "echo 3"])) == (
        "command line changed"
    )
    fit = module(FIT)["fit"]
    assert change(one, python_task(fit)) == "recipe changed from shell to python"


def test_no_recorded_signature_is_no_reason() -> None:
    current = of(Task(targets="a.txt", recipe="true"))
    assert why_changed(None, current) is None
    assert why_changed("not json", current) is None
    assert of(Task(targets="all", phony=True)) is None


def test_the_journal_form_round_trips() -> None:
    signature = of(python_task(module(FIT)["fit"], (1, "two"), flag=True))
    assert signature is not None
    text = signature.dumps()
    assert "\t" not in text
    assert "\n" not in text
    assert Signature.loads(text) == signature
    assert changes(signature, signature) is None


SETS = """\
from minimake import task

WORDS = {f"word{i}" for i in range(20)}

def write(path, words, *, more):
    keep = [w for w in sorted(words) if w not in {"word1", "word2", "word3", "word4", "word5"}]
    with open(path, "w") as out:
        out.write(" ".join(keep + sorted(more)))

task("out.txt", recipe=write, args=("out.txt", WORDS), kwargs={"more": frozenset(WORDS)})
"""


def test_sets_sign_the_same_in_every_process_whatever_the_hash_seed(tmp_path: Path) -> None:
    """A set's order follows PYTHONHASHSEED, which differs per process: its signature must
    not, or ``--rerun-triggers recipe`` reruns the task every time."""
    (tmp_path / "tasks.py").write_text(SETS)
    first = cli("--rerun-triggers", "mtime,recipe", cwd=tmp_path, env={"PYTHONHASHSEED": "1"})
    assert first.returncode == 0, first.stderr
    again = cli("--rerun-triggers", "mtime,recipe", cwd=tmp_path, env={"PYTHONHASHSEED": "2"})
    assert again.returncode == 0, again.stderr
    assert again.stdout == "minimake: 'out.txt' is up to date.\n"
