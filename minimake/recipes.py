"""Run one recipe to completion and describe how it ended; this is what workers execute.

Everything here runs inside an executor's worker (a process, a thread, or a Dask worker), so
the input is a plain-data RecipeSpec and the output a plain-data Outcome.
"""

from __future__ import annotations

import contextlib
import io
import os
import pickle
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import attrs

# True inside a pool worker that minimake started: the worker leads its own process group,
# so recipes stay in it and one killpg stops the worker, its shells and their children.
_IN_WORKER = False
# Process groups of shell recipes started outside such a worker (thread executors), for stop().
_GROUPS: set[int] = set()
_GROUPS_LOCK = threading.Lock()


@attrs.frozen
class RecipeSpec:
    """What a worker needs to run one task's recipe; picklable plain data."""

    name: str
    cwd: str
    env: tuple[tuple[str, str], ...] = ()
    # Shell recipe: one /bin/sh -c per line.
    commands: tuple[str, ...] = ()
    # Python recipe, either re-imported from its tasks file by task name...
    source: str | None = None
    variables: tuple[tuple[str, str], ...] = ()
    # ...or sent by value: pickle of (callable, args, kwargs)...
    payload: bytes | None = None
    # ...or, for an executor in this very process (threads), handed over as is.
    call: tuple[Any, ...] | None = attrs.field(default=None, eq=False)
    # The task's output files (relative to cwd), stat'ed where the recipe ran.
    outputs: tuple[str, ...] = ()
    # make's -i: a failing line does not stop the lines after it.
    ignore_errors: bool = False
    # Echo the lines after the first into the output as they run, as make does (the first is
    # echoed when the task starts): a line after a failing one is never shown.
    echo: bool = False


@attrs.frozen
class Outcome:
    """How a recipe ended."""

    ok: bool
    output: str = ""
    returncode: int | None = None  # a shell line's exit status
    signal: int | None = None  # the signal that killed a shell line or the worker
    error: str | None = None  # "ValueError: bad input" for a Python recipe
    traceback: str | None = None
    seconds: float = 0.0
    crashed: bool = False  # the worker process died while running it
    # (output, mtime_ns or None) as the worker saw them just after the recipe: on a cluster
    # the client trusts these over its own, possibly stale, view of a shared file system.
    mtimes: tuple[tuple[str, int | None], ...] = ()
    worker: str | None = None  # the Dask worker that ran it (--timings draws a lane per worker)


def mark_worker() -> None:
    """Pool initializer: lead a process group of our own, so it can be stopped as one."""
    global _IN_WORKER
    _IN_WORKER = True
    with contextlib.suppress(OSError):
        os.setsid()


def run(spec: RecipeSpec) -> Outcome:
    """Run the recipe in ``spec`` and return its Outcome; never raises for a recipe's failure."""
    started = time.perf_counter()
    outcome = _run_shell(spec) if spec.commands else _run_python(spec)
    seconds = time.perf_counter() - started
    return attrs.evolve(outcome, seconds=seconds, mtimes=_mtimes(spec))


def _mtimes(spec: RecipeSpec) -> tuple[tuple[str, int | None], ...]:
    found: list[tuple[str, int | None]] = []
    for path in spec.outputs:
        try:
            found.append((path, os.stat(os.path.join(spec.cwd, path)).st_mtime_ns))
        except OSError:
            found.append((path, None))
    return tuple(found)


def _run_shell(spec: RecipeSpec) -> Outcome:
    env = {**os.environ, **dict(spec.env)}
    output: list[str] = []
    failed: int | None = None  # the first failing line's status
    for index, line in enumerate(spec.commands):
        if index and spec.echo:
            output.append(line + "\n")
        process = _spawn(line, spec.cwd, env)
        with _registered(process.pid, not _IN_WORKER):
            data, _ = process.communicate()
        output.append(data.decode(errors="replace"))
        if process.returncode != 0 and failed is None:
            failed = process.returncode
        if failed is not None and not spec.ignore_errors:
            break
    if failed is None:
        return Outcome(ok=True, output="".join(output))
    if failed < 0:
        return Outcome(ok=False, output="".join(output), signal=-failed)
    return Outcome(ok=False, output="".join(output), returncode=failed)


# make's rule: a line with none of the shell's special characters, whose first word is no
# shell keyword or builtin, is exec'd directly, which saves starting /bin/sh for each simple
# recipe line. echo and printf stay with the shell: /bin/echo reads its options differently.
_SHELL_CHARACTERS = frozenset("#;\"*?[]&|<>(){}$`'\\~!=%^\n")
# One string reads as the list it is; ruff would make it 45 lines.
_SHELL_WORDS = frozenset(
    ". : [ alias bg break case cd command continue echo eval exec exit export false fc fg for "  # noqa: SIM905
    "getopts hash if jobs kill local login logout printf pwd read readonly return set shift "
    "test times trap true type ulimit umask unalias unset wait while".split()
)


def _argv(line: str) -> list[str]:
    """The command line to run ``line``: its words, when make would exec it directly."""
    words = line.split()
    if words and words[0] not in _SHELL_WORDS and _SHELL_CHARACTERS.isdisjoint(line):
        return words
    return ["/bin/sh", "-c", line]


def _spawn(line: str, cwd: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    argv = _argv(line)
    options: dict[str, Any] = {
        "cwd": cwd,
        "env": env,
        "stdin": subprocess.DEVNULL,
        "stdout": subprocess.PIPE,
        "stderr": subprocess.STDOUT,
        "start_new_session": not _IN_WORKER,
    }
    try:
        return subprocess.Popen(argv, **options)
    except OSError:
        if argv[0] == "/bin/sh":
            raise
        # No such program (or not executable): the shell says so in its own words, exit 127.
        return subprocess.Popen(["/bin/sh", "-c", line], **options)


@contextlib.contextmanager
def _registered(group: int, active: bool) -> Iterator[None]:
    if not active:
        yield
        return
    with _GROUPS_LOCK:
        _GROUPS.add(group)
    try:
        yield
    finally:
        with _GROUPS_LOCK:
            _GROUPS.discard(group)


def _resolve(spec: RecipeSpec) -> tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]:
    if spec.call is not None:
        function, args, kwargs = spec.call
        return function, tuple(args), dict(kwargs)
    if spec.payload is not None:
        function, args, kwargs = pickle.loads(spec.payload)
        return function, tuple(args), dict(kwargs)
    from minimake.load import load_tasks

    assert spec.source is not None
    for declared in load_tasks(spec.source, dict(spec.variables)):
        if declared.name == spec.name and callable(declared.recipe):
            return declared.recipe, declared.args, declared.keyword_arguments
    raise LookupError(f"task '{spec.name}' has no Python recipe in {spec.source}")


def _run_python(spec: RecipeSpec) -> Outcome:
    previous = os.getcwd()
    changed = _IN_WORKER and previous != spec.cwd
    try:
        if changed:
            os.chdir(spec.cwd)
        with _captured() as captured:
            try:
                function, args, kwargs = _resolve(spec)
                function(*args, **kwargs)
            except Exception as error:  # the recipe's failure is data, not a crash
                text = traceback.format_exc()
                return Outcome(
                    ok=False,
                    output=captured(),
                    error=f"{type(error).__name__}: {error}",
                    traceback=text,
                )
        return Outcome(ok=True, output=captured())
    finally:
        if changed:
            os.chdir(previous)


@contextlib.contextmanager
def _captured() -> Iterator[Callable[[], str]]:
    """Capture a Python recipe's output: at the file descriptors in our own worker process
    (so child processes and C extensions are captured too), at sys.stdout in a thread."""
    if not _IN_WORKER:
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
            yield buffer.getvalue
        return
    sys.stdout.flush()
    sys.stderr.flush()
    with tempfile.TemporaryFile() as sink:
        saved = os.dup(1), os.dup(2)
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        text: list[str] = []

        def read() -> str:
            sys.stdout.flush()
            sys.stderr.flush()
            sink.seek(0)
            return sink.read().decode(errors="replace")

        try:
            yield lambda: text[0] if text else read()
        finally:
            text.append(read())
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def running_groups() -> set[int]:
    """Process groups of the shell recipes running in this process (thread executors)."""
    with _GROUPS_LOCK:
        return set(_GROUPS)


def kill_groups(groups: set[int], signum: int) -> None:
    """Send ``signum`` to each process group that still exists."""
    for group in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(group, signum)


def signal_name(signum: int) -> str:
    """The C library's description of a signal, as make prints it ("Killed", "Terminated")."""
    return signal.strsignal(signum) or f"Signal {signum}"
