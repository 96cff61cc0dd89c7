"""What a worker needs to run one recipe (a spec per kind of recipe), how a recipe ended (an
Outcome), and how a Python recipe runs in a worker process or in a thread.

Specs and Outcomes are plain picklable data, so the same recipe runs on minimake's own shell
executor, on its process pool, or on a Dask worker elsewhere.
"""

from __future__ import annotations

import contextlib
import os
import time
import traceback
from collections.abc import Callable, Iterator
from typing import IO, Any, TypeAlias

import attrs

from minimake.execution.capture import Capture, Captured, at_descriptors, in_this_thread
from minimake.recipe_env import told_in_this_thread
from minimake.result import Outcome


@attrs.frozen
class ShellSpec:
    """A shell recipe: its lines, each its own process, stopping at the first failure."""

    name: str
    cwd: str
    commands: tuple[str, ...]
    capture: Capture
    env: tuple[tuple[str, str], ...] = ()
    # make's $^ and $@ lists: each an environment variable of space-separated words, or, when
    # that would be longer than the system allows, a file of one word per line (NAME_FILE).
    lists: tuple[tuple[str, tuple[str, ...]], ...] = ()
    outputs: tuple[str, ...] = ()  # the task's files, relative to cwd
    ignore_errors: bool = False  # make's -i: a failing line does not stop the lines after it
    # Under -i, make's "[tasks.py:3: x]" for the "Error 1 (ignored)" said after each failing line.
    where: str = ""
    # Echo the lines after the first into the output as they run, as make does (the first is
    # echoed when the task starts): a line after a failing one is never shown.
    echo: bool = False
    # The lines as echoed, with $TARGET and the like replaced (minimake.script); () echoes
    # ``commands`` as written.
    shown: tuple[str, ...] = ()
    # task(console=True): the terminal's stdin, stdout and stderr, nothing captured, in
    # minimake's own session and process group (/dev/tty works, Ctrl-C reaches it).
    console: bool = False
    timeout: float | None = None  # seconds for all its lines together; None: no limit


@attrs.frozen
class PythonSpec:
    """A Python recipe: found again by task name in its tasks file, or sent by value."""

    name: str
    cwd: str
    capture: Capture
    outputs: tuple[str, ...] = ()
    # Re-imported from its tasks file (closures and lambdas work, nothing is pickled)...
    source: str | None = None
    variables: tuple[tuple[str, str], ...] = ()
    # ...or a pickle of (callable, args, kwargs) for tasks built in code...
    payload: bytes | None = None
    # ...or, on a thread executor in this very process, handed over as is.
    call: tuple[Any, ...] | None = attrs.field(default=None, eq=False)
    # Variables set in the worker's environment while this recipe runs (restored after).
    env: tuple[tuple[str, str], ...] = ()
    timeout: float | None = None  # seconds; None: no limit (minimake's own pool enforces it)


RecipeSpec: TypeAlias = ShellSpec | PythonSpec


def run(spec: RecipeSpec) -> Outcome:
    """Run ``spec`` to its end in this worker process and stat its outputs; never raises for a
    recipe's failure. Executors of other kinds (Dask, a caller's pool) run this."""
    if isinstance(spec, ShellSpec):
        from minimake.execution import spawn

        outcome = spawn.run(spec)
    else:
        outcome = run_in_process(spec)
    return attrs.evolve(outcome, mtimes=_mtimes(spec))


def _mtimes(spec: RecipeSpec) -> tuple[tuple[str, int | None], ...]:
    found: list[tuple[str, int | None]] = []
    for path in spec.outputs:
        try:
            found.append((path, os.stat(os.path.join(spec.cwd, path)).st_mtime_ns))
        except OSError:
            found.append((path, None))
    return tuple(found)


def inline(outcome: Outcome) -> Outcome:
    """The Outcome with its output read into text and its files removed (to send it away)."""
    captured = outcome.captured
    if captured is None:
        return outcome
    text = captured.text(limit=1 << 30)
    captured.discard()
    return attrs.evolve(outcome, captured=None, output=text)


def _resolve(spec: PythonSpec) -> tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]:
    if spec.call is not None:
        function, args, kwargs = spec.call
        return function, tuple(args), dict(kwargs)
    if spec.payload is not None:
        import pickle  # a recipe built in code, sent pickled: rare, and only in a worker

        if spec.source is not None:  # a generated task's recipe refers to its tasks file
            from minimake.load import load_tasks

            load_tasks(spec.source, dict(spec.variables))
        function, args, kwargs = pickle.loads(spec.payload)
        return function, tuple(args), dict(kwargs)
    from minimake.load import load_tasks

    assert spec.source is not None
    for declared in load_tasks(spec.source, dict(spec.variables)):
        if declared.name == spec.name and callable(declared.recipe):
            return declared.recipe, declared.args, declared.keyword_arguments
    raise LookupError(f"task '{spec.name}' has no Python recipe in {spec.source}")


def _call(spec: PythonSpec, started: float, captured: Captured) -> Outcome:
    try:
        function, args, kwargs = _resolve(spec)
        function(*args, **kwargs)
    except Exception as error:  # the recipe's failure is data, not a crash
        return Outcome(
            ok=False,
            error=f"{type(error).__name__}: {error}",
            traceback=traceback.format_exc(),
            seconds=time.perf_counter() - started,
            captured=captured,
        )
    return Outcome(ok=True, seconds=time.perf_counter() - started, captured=captured)


def run_in_process(spec: PythonSpec) -> Outcome:
    """In a worker process: output captured at the file descriptors (child processes and C
    extensions included), and the process left as the recipe found it, as if each recipe had
    a fresh process as under make: working directory, umask and environment restored."""
    started = time.perf_counter()
    captured, out, err = spec.capture.open()
    try:
        with _restored(), at_descriptors(out, err):
            os.chdir(spec.cwd)
            os.environ.update(spec.env)
            return _call(spec, started, captured)
    finally:
        os.close(out)
        if err != out:
            os.close(err)


@contextlib.contextmanager
def _restored() -> Iterator[None]:
    folder = os.getcwd()
    mask = os.umask(0o022)
    os.umask(mask)
    environment = dict(os.environ)
    try:
        yield
    finally:
        os.chdir(folder)
        os.umask(mask)
        if os.environ != environment:
            os.environ.clear()
            os.environ.update(environment)


def run_in_thread(spec: PythonSpec) -> Outcome:
    """On a thread executor: prints captured per thread (``capture.per_thread_streams`` is on),
    stdin at end of file. The working directory and umask are the whole process's: a recipe
    that changes them would change them under every other recipe, so that fails the task.
    For the same reason ``spec.env`` is not applied: the environment is the whole process's;
    ``minimake.attempt()`` and ``minimake.failed_deps()`` read it from the thread instead."""
    started = time.perf_counter()
    captured, out, err = spec.capture.open()
    folder = os.getcwd()
    mask = os.umask(0o022)
    os.umask(mask)
    with (
        _streams(out, err) as (out_stream, err_stream),
        open(os.devnull) as stdin,
        in_this_thread(out_stream, err_stream, stdin),
        told_in_this_thread(spec.env),
    ):
        outcome = _call(spec, started, captured)
    changed = []
    if os.getcwd() != folder:
        changed.append(f"the working directory (to {os.getcwd()})")
        os.chdir(folder)
    if os.umask(mask) != mask:
        changed.append("the umask")
    if changed and outcome.ok:
        what = " and ".join(changed)
        return attrs.evolve(
            outcome,
            ok=False,
            error=f"the recipe changed {what}, which all threads share; "
            "use the process executor for such a recipe",
        )
    return outcome


@contextlib.contextmanager
def _streams(out: int, err: int) -> Iterator[tuple[IO[str], IO[str]]]:
    out_stream = os.fdopen(out, "w", encoding="utf-8", errors="replace")
    err_stream = out_stream if err == out else os.fdopen(err, "w", errors="replace")
    try:
        yield out_stream, err_stream
    finally:
        out_stream.close()
        if err_stream is not out_stream:
            err_stream.close()
