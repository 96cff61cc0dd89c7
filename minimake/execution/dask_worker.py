"""The worker side of the Dask executor: what Dask runs (``run_task``) and what the client
calls on every worker with ``client.run`` (``probe``, ``stop_build``, ``end_build``).

A running Dask task cannot be cancelled, so a worker never runs a recipe in its own threads: it
hands the recipe to a Python process of the build's (``_Child``, a process group leader like a
local pool worker), whose group ``stop_build`` kills. Dask reruns a task whose worker died; a
marker file per task, created with O_EXCL in the build's folder, makes a second attempt fail.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import signal
import subprocess
import sys
import threading

import attrs

from minimake import __version__
from minimake.execution import recipes
from minimake.execution.groups import TERM_GRACE, kill_groups, lead_group
from minimake.execution.recipes import RecipeSpec
from minimake.result import Outcome
from minimake.words import death


def _failure(error: BaseException) -> Outcome:
    return Outcome(ok=False, error=f"{type(error).__name__}: {error}")


class _Died(Exception):
    """A recipe process ended without answering; ``code`` is its exit status."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class _Child:
    """A Python process of one build on this worker, leading its own process group, that
    runs recipes one at a time (as a local pool worker does), so that one killpg stops a
    recipe and everything it started. Specs and Outcomes travel pickled over two pipes."""

    def __init__(self) -> None:
        spec_in, spec_out = os.pipe()
        outcome_in, outcome_out = os.pipe()
        # The worker's own sys.path, as multiprocessing's spawn passes it on.
        code = (
            f"import sys; sys.path[:] = {sys.path!r}; import minimake.execution.dask_worker as m; "
            f"m._serve({spec_in}, {outcome_out}, {os.getpid()})"
        )
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-c", code],
                stdin=subprocess.DEVNULL,
                pass_fds=(spec_in, outcome_out),
                start_new_session=True,
            )
        finally:
            os.close(spec_in)
            os.close(outcome_out)
        self._send = os.fdopen(spec_out, "wb")
        self._receive = os.fdopen(outcome_in, "rb")

    def run(self, spec: RecipeSpec) -> Outcome:
        try:
            pickle.dump(spec, self._send)
            self._send.flush()
            outcome = pickle.load(self._receive)
        except (EOFError, OSError, pickle.UnpicklingError):
            raise _Died(self.process.wait()) from None
        assert isinstance(outcome, Outcome)
        return outcome

    def kill(self, signum: int) -> None:
        kill_groups({self.process.pid}, signum)

    def close(self) -> None:
        for pipe in (self._send, self._receive):
            with contextlib.suppress(OSError):
                pipe.close()  # the child reads end-of-file and exits
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=0.1)  # reap it if it is already gone


def _serve(spec_in: int, outcome_out: int, parent: int) -> None:
    """In a recipe process: run specs until the worker closes the pipe."""
    lead_group(parent)  # stop_build stops the recipe and all it started, as one group
    with os.fdopen(spec_in, "rb") as receive, os.fdopen(outcome_out, "wb") as send:
        while True:
            try:
                spec = pickle.load(receive)
            except EOFError:
                return
            try:
                outcome = recipes.inline(recipes.run(spec))
            except Exception as error:  # recipes.run reports a recipe's failure itself
                outcome = _failure(error)
            pickle.dump(outcome, send)
            send.flush()


@attrs.define(eq=False)
class _Build:
    """One build's recipe processes in this worker process."""

    idle: list[_Child] = attrs.Factory(list)
    busy: set[_Child] = attrs.Factory(set)
    stopped: int | None = None  # the signal that stopped the build
    ended: bool = False


_BUILDS: dict[str, _Build] = {}
_BUILDS_LOCK = threading.Lock()


def probe(path: str, expected: str, version: str) -> str | None:
    """On a worker: None when it reads the client's probe file, else what is wrong."""
    try:
        with open(path) as file:
            found = file.read()
    except OSError as error:
        return f"cannot read '{path}' ({error.strerror})"
    if found != expected:
        return f"'{path}' holds something else (another file system mounted there?)"
    if version != __version__:
        return f"runs minimake {__version__}, not {version}"
    return None


def run_task(spec: RecipeSpec, build: str, folder: str, run: int = 1) -> Outcome:
    """On a worker: run one recipe in a process of the build's, at most once per build and
    ``run`` (a retry of a failed recipe is the task's next run, 2 and on)."""
    marked = spec.name if run == 1 else f"{spec.name}\0{run}"
    try:
        with open(os.path.join(folder, _marker(marked)), "x"):
            pass
    except FileExistsError:
        message = "its Dask worker was lost while running it (not run again)"
        return Outcome(ok=False, crashed=True, error=message)
    except OSError as error:
        message = f"this Dask worker cannot see the project folder '{spec.cwd}' ({error.strerror})"
        return Outcome(ok=False, error=message)
    child = _take(build)
    if child is None:
        return Outcome(ok=False, error="not started: the build was stopped")
    died = False
    limit = _Limit(child, spec.timeout) if spec.timeout is not None else None
    try:
        outcome = attrs.evolve(child.run(spec), worker=_worker_name())
        # Its time ran out as it ended: the process may have had its signal, keep it no more.
        died = limit is not None and limit.expired
        return outcome
    except _Died as death:
        died = True
        if limit is not None and limit.expired:
            return Outcome(ok=False, timed_out=spec.timeout, worker=_worker_name())
        return _how_it_ended(death.code, _BUILDS[build].stopped)
    except Exception as error:  # a spec that does not pickle, say
        died = True
        return _failure(error)
    finally:
        if limit is not None:
            limit.cancel()
        _give_back(build, child, died)


class _Limit:
    """A recipe's time limit on a worker: at ``seconds`` its process's group gets SIGTERM,
    and SIGKILL ``TERM_GRACE`` seconds later, as minimake does with a local recipe."""

    def __init__(self, child: _Child, seconds: float) -> None:
        self.expired = False
        self._child = child
        self._timers = [threading.Timer(seconds, self._expire)]
        self._timers[0].daemon = True
        self._timers[0].start()

    def _expire(self) -> None:
        self.expired = True
        self._child.kill(signal.SIGTERM)
        last = threading.Timer(TERM_GRACE, self._child.kill, (signal.SIGKILL,))
        last.daemon = True
        self._timers.append(last)
        last.start()

    def cancel(self) -> None:
        for timer in self._timers:
            timer.cancel()


def _worker_name() -> str | None:
    """This Dask worker's name (its address when unnamed), or None outside a worker."""
    try:
        from distributed import get_worker

        worker = get_worker()
    except (ImportError, ValueError):
        return None
    return str(worker.name) if worker.name is not None else str(worker.address)


def _marker(name: str) -> str:
    return hashlib.sha1(name.encode()).hexdigest()[:20]


def _take(build: str) -> _Child | None:
    with _BUILDS_LOCK:
        state = _BUILDS.setdefault(build, _Build())
        if state.stopped is not None or state.ended:
            return None
        child = state.idle.pop() if state.idle else None
    if child is None:
        child = _Child()
    with _BUILDS_LOCK:
        state.busy.add(child)
        if state.stopped is not None:  # stopped while the process started
            child.kill(state.stopped)
    return child


def _give_back(build: str, child: _Child, died: bool) -> None:
    with _BUILDS_LOCK:
        state = _BUILDS[build]
        state.busy.discard(child)
        keep = not died and state.stopped is None and not state.ended
        if keep:
            state.idle.append(child)
    if not keep:
        child.kill(signal.SIGKILL)
        child.close()


def _how_it_ended(code: int, stopped: int | None) -> Outcome:
    if stopped is not None:
        return Outcome(ok=False, signal=stopped, error="stopped")
    return Outcome(ok=False, crashed=True, error=f"worker process died ({death(code)})")


def stop_build(build: str, signum: int, grace: float = 0.0) -> None:
    """On every worker (client.run): stop the build; SIGKILL what is left after ``grace`` s."""
    with _BUILDS_LOCK:
        state = _BUILDS.setdefault(build, _Build())
        if state.stopped is None:
            state.stopped = signum
        children = [*state.busy, *state.idle]
    _kill_all(children, signum)
    if grace > 0 and children:
        timer = threading.Timer(grace, _kill_all, (children, signal.SIGKILL))
        timer.daemon = True
        timer.start()


def _kill_all(children: list[_Child], signum: int) -> None:
    for child in children:
        child.kill(signum)


def end_build(build: str) -> None:
    """On every worker (client.run): the build is over; end its recipe processes."""
    with _BUILDS_LOCK:
        state = _BUILDS.setdefault(build, _Build())
        state.ended = True
        busy, idle = list(state.busy), list(state.idle)
        state.idle.clear()
    _kill_all(busy, signal.SIGKILL)
    for child in idle:
        child.close()
