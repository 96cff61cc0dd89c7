"""How a started task is carried out: really (on an executor), or pretended (-n, -q, -t).

Dry-run is a runner, not a flag threaded through the scheduler (ninja's DryRunCommandRunner).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from concurrent.futures.process import BrokenProcessPool
from typing import Protocol

import attrs

from minimake import recipes
from minimake.disk import Disk
from minimake.pool import ProcessPool, run_announced
from minimake.recipes import Outcome, RecipeSpec
from minimake.result import Status
from minimake.task import Task, describe_recipe


class Runner(Protocol):
    """Carries out started tasks; every Future it returns resolves to an Outcome, never raises."""

    status: Status  # what a task that succeeded under this runner is reported as
    pretends: bool  # dependents must assume its targets became new (make's -n/-q/-t rule)

    def echo(self, task: Task) -> list[str]: ...
    def start(self, task: Task) -> Future[Outcome]: ...
    def stop(self, signum: int) -> None: ...
    def close(self, cancel: bool = False) -> None: ...


def _done(outcome: Outcome) -> Future[Outcome]:
    future: Future[Outcome] = Future()
    future.set_result(outcome)
    return future


class DryRunner:
    """``-n`` and ``-q``: every recipe "succeeds" at once without running."""

    status = Status.WOULD_RUN
    pretends = True

    def echo(self, task: Task) -> list[str]:
        return describe_recipe(task)

    def start(self, task: Task) -> Future[Outcome]:
        return _done(Outcome(ok=True))

    def stop(self, signum: int) -> None:
        pass

    def close(self, cancel: bool = False) -> None:
        pass


class TouchRunner:
    """``-t``: mark targets up to date by touching them instead of running recipes."""

    status = Status.TOUCHED
    pretends = True

    def __init__(self, disk: Disk) -> None:
        self._disk = disk

    def _touched(self, task: Task) -> tuple[str, ...]:
        # make touches only targets that have a recipe, never phony ones.
        return task.outputs if task.recipe is not None else ()

    def echo(self, task: Task) -> list[str]:
        return [f"touch {path}" for path in self._touched(task)]

    def start(self, task: Task) -> Future[Outcome]:
        for path in self._touched(task):
            self._disk.touch(path)
        return _done(Outcome(ok=True))

    def stop(self, signum: int) -> None:
        pass

    def close(self, cancel: bool = False) -> None:
        pass


@attrs.define
class _Flight:
    task: Task
    future: Future[Outcome]
    tries: int
    generation: int


class ExecutorRunner:
    """Runs recipes on a concurrent.futures Executor.

    When a worker process dies the pool is broken for every task on it: the runner builds a
    fresh pool, fails the task whose worker died, and runs the bystanders again once.
    """

    status = Status.RAN
    pretends = False

    def __init__(
        self,
        executor: Executor,
        spec_of: Callable[[Task], RecipeSpec],
        rebuild: Callable[[], Executor] | None = None,
        *,
        owned: bool = False,
    ) -> None:
        self._owned = owned
        self._stopped = False
        self._signalled: set[int] = set()
        self._executor = executor
        self._spec_of = spec_of
        self._rebuild = rebuild
        self._lock = threading.Lock()
        self._generation = 0
        self._flights: dict[str, _Flight] = {}
        self._crashed: dict[int, dict[str, str]] = {}  # generation -> task -> how its worker died

    @property
    def executor(self) -> Executor:
        return self._executor

    def echo(self, task: Task) -> list[str]:
        # Only the first line of a recipe list now; the worker echoes each later line into the
        # output as it runs it, so a line after a failing one is never shown (make's order).
        return describe_recipe(task)[:1]

    def start(self, task: Task) -> Future[Outcome]:
        future: Future[Outcome] = Future()
        self._submit(_Flight(task, future, 0, self._generation))
        return future

    def _submit(self, flight: Flight_t) -> None:
        spec = self._spec_of(flight.task)
        function = run_announced if isinstance(self._executor, ProcessPool) else recipes.run
        with self._lock:
            flight.generation = self._generation
            self._flights[flight.task.name] = flight
            executor = self._executor
        try:
            submitted = executor.submit(function, spec)
        except Exception as error:  # a broken or shut-down executor, an unpicklable spec
            self._finish(flight, _failure(error))
            return
        submitted.add_done_callback(lambda f: self._collect(flight, f))

    def _collect(self, flight: Flight_t, submitted: Future[Outcome]) -> None:
        if submitted.cancelled():
            self._finish(flight, Outcome(ok=False, error="cancelled"))
            return
        error = submitted.exception()
        if error is not None and self._stopped:
            self._finish(flight, Outcome(ok=False, error="interrupted"))
            return
        if error is None:
            self._finish(flight, submitted.result())
            return
        if not isinstance(error, BrokenProcessPool):
            self._finish(flight, _failure(error))
            return
        crashed = self._after_break(flight.generation)
        how = crashed.get(flight.task.name)
        # A bystander of another task's crash runs again; when the pool cannot say who crashed
        # it, every task on it gets one more try, and a second break fails them.
        flight.tries += 1
        if how is not None or self._rebuild is None or flight.tries > (3 if crashed else 1):
            message = "worker process died" + (f" ({how})" if how else "")
            self._finish(flight, Outcome(ok=False, error=message, crashed=True))
            return
        self._submit(flight)

    def _after_break(self, generation: int) -> dict[str, str]:
        """On the first news of a broken pool: say who crashed it, and start a fresh pool."""
        with self._lock:
            if generation in self._crashed:
                return self._crashed[generation]
            crashed: dict[str, str] = {}
            old = self._executor
            running = [f.task.name for f in self._flights.values() if f.generation == generation]
            if isinstance(old, ProcessPool):
                codes = old.exit_codes()
                for pid, name in old.worker_pids().items():
                    code = codes.get(pid)
                    if name is not None and code not in (None, 0, -signal.SIGTERM):
                        crashed[name] = _death(code)
            if not crashed and len(running) == 1:
                crashed[running[0]] = "it exited abruptly"
            self._crashed[generation] = crashed
            if self._rebuild is not None:
                old.shutdown(wait=False, cancel_futures=True)
                self._executor = self._rebuild()
                self._generation += 1
            return crashed

    def _finish(self, flight: Flight_t, outcome: Outcome) -> None:
        with self._lock:
            if self._flights.get(flight.task.name) is flight:
                del self._flights[flight.task.name]
        flight.future.set_result(outcome)

    def stop(self, signum: int) -> None:
        """Signal every running recipe's process group, and every group signalled before:
        a recipe's background job ignores SIGINT, so the final SIGKILL must still reach it."""
        self._stopped = True
        if isinstance(self._executor, ProcessPool):
            self._executor.kill(signum)
        self._signalled |= recipes.running_groups()
        recipes.kill_groups(self._signalled, signum)

    def close(self, cancel: bool = False) -> None:
        if self._owned:
            self._executor.shutdown(wait=not cancel, cancel_futures=cancel)


Flight_t = _Flight


def _death(code: int | None) -> str:
    if code is not None and code < 0:
        return f"killed by signal {-code}, {recipes.signal_name(-code)}"
    return f"exit code {code}"


def _failure(error: BaseException) -> Outcome:
    return Outcome(ok=False, error=f"{type(error).__name__}: {error}")
