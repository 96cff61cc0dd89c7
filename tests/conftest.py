"""Shared fixtures: a project folder, explicit mtimes, the real CLI, recording fakes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from minimake.events import NullReporter

REPO = Path(__file__).resolve().parent.parent
# Far in the past and well apart, so files a recipe writes "now" are always newer.
BASE = 1_000_000_000


def touch(path: str | os.PathLike[str], seconds: int, content: str | None = None) -> None:
    """Create ``path`` (with ``content``) and set its mtime to BASE + ``seconds``; never sleeps."""
    path = Path(path)
    if content is not None or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content if content is not None else path.name)
    stamp = (BASE + seconds) * 1_000_000_000
    os.utime(path, ns=(stamp, stamp))


def proc_stats() -> dict[int, list[str]]:
    """Each process's /proc/PID/stat fields after its command name (state, ppid, pgrp, ...)."""
    found: dict[int, list[str]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                text = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue  # it ended while we looked
            found[int(entry)] = text[text.rfind(")") + 2 :].split()
    return found


def alive(pid: int) -> bool:
    """Whether process ``pid`` exists and has not ended (a zombie has already died)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return text[text.rfind(")") + 2] != "Z"


def write_tasks(folder: Path, source: str, name: str = "tasks.py") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(source))
    return path


def environment(env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment minimake runs in under the tests: ours without NO_COLOR, then ``env``,
    with this source tree first on PYTHONPATH."""
    merged = {name: value for name, value in os.environ.items() if name != "NO_COLOR"}
    merged.update(env or {})
    merged["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), merged.get("PYTHONPATH")]))
    return merged


def cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m minimake ARGS`` in ``cwd`` from this source tree."""
    return subprocess.run(
        [sys.executable, "-m", "minimake", *args],
        cwd=cwd,
        env=environment(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def start(
    *args: str, cwd: Path, env: dict[str, str] | None = None, new_session: bool = False
) -> subprocess.Popen[str]:
    """Start ``python -m minimake ARGS`` in ``cwd`` and return at once, its output on pipes;
    ``new_session``: in a session of its own, so that a test can kill its whole tree."""
    return subprocess.Popen(
        [sys.executable, "-m", "minimake", *args],
        cwd=cwd,
        env=environment(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=new_session,
    )


# The tests that compare minimake with GNU make run only where make is installed (`.ci/run`
# installs it); elsewhere they skip, and the run's header says so once.
WITHOUT_MAKE = "GNU make is not installed (apt-get install make): the comparisons with it skip"
needs_make = pytest.mark.skipif(shutil.which("make") is None, reason=WITHOUT_MAKE)


def pytest_report_header() -> list[str]:
    return [WITHOUT_MAKE] if shutil.which("make") is None else []


@pytest.fixture(autouse=True, scope="session")
def _checkout_stays_clean() -> Iterator[None]:
    """No test may write minimake's state (.minimake/logs) into the checkout itself."""
    state = REPO / ".minimake"
    existed = state.exists()
    yield
    assert existed or not state.exists(), f"a test wrote {state}"


@pytest.fixture
def project(tmp_path: Path) -> Callable[[str], Path]:
    """Write a tasks.py into a fresh folder and return the folder."""

    def make(source: str) -> Path:
        write_tasks(tmp_path, source)
        return tmp_path

    return make


class RecordingReporter(NullReporter):
    """Records every event of the engine's Reporter protocol as a tuple (doit's FakeReporter).

    No catch-all: an event added to the protocol (and so to NullReporter) is recorded only
    once a method here says how, which test_scheduler checks.
    """

    def __init__(self) -> None:
        self.events: list[tuple[str, ...]] = []

    def reached(self, through):  # type: ignore[no-untyped-def]
        # Only a build with multi-target tasks has something to say here.
        self.events.extend(("reached", path, target) for path, target in sorted(through.items()))

    def begin(self, total, jobs, expected=None):  # type: ignore[no-untyped-def]
        self.events.append(("begin", str(total), str(jobs)))

    def started(self, task, reason, lines):  # type: ignore[no-untyped-def]
        self.events.append(("started", task.name, str(reason)))

    def finished(self, task, result, ignored):  # type: ignore[no-untyped-def]
        self.events.append(("finished", task.name, result.status.value))

    def retrying(self, task, result, attempts):  # type: ignore[no-untyped-def]
        self.events.append(("retrying", task.name, f"{result.attempts} of {attempts}"))

    def missing(self, error):  # type: ignore[no-untyped-def]
        self.events.append(("missing", str(error)))

    def deleting(self, path):  # type: ignore[no-untyped-def]
        self.events.append(("deleting", path))

    def waiting(self):  # type: ignore[no-untyped-def]
        self.events.append(("waiting",))

    def interrupted(self, task):  # type: ignore[no-untyped-def]
        self.events.append(("interrupted", task.name))

    def goal_done(self, goal, result, phony_or_no_recipe):  # type: ignore[no-untyped-def]
        self.events.append(("goal_done", goal, str(phony_or_no_recipe)))

    def not_remade(self, goal):  # type: ignore[no-untyped-def]
        self.events.append(("not_remade", goal))

    def warning(self, text):  # type: ignore[no-untyped-def]
        self.events.append(("warning", text))

    def not_known_yet(self, text):  # type: ignore[no-untyped-def]
        self.events.append(("not_known_yet", text))

    def grew(self, tasks):  # type: ignore[no-untyped-def]
        self.events.append(("grew", tasks))

    def waiting_for_lock(self, pid, since):  # type: ignore[no-untyped-def]
        self.events.append(("waiting_for_lock", str(pid)))

    def recorded(self, result):  # type: ignore[no-untyped-def]
        self.events.append(("recorded", result.name, result.status.value))

    def summary(self, result):  # type: ignore[no-untyped-def]
        self.events.append(("summary",))

    def started_names(self) -> list[str]:
        return [event[1] for event in self.events if event[0] == "started"]
