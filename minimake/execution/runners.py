"""How a started task is carried out: really (on an executor), or pretended (-n, -q, -t).

Dry-run is a runner, not a flag threaded through the scheduler (ninja's DryRunCommandRunner).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from concurrent.futures._base import FINISHED
from typing import Any, cast

import attrs

from minimake.disk import Disk
from minimake.execution import recipes, spawn
from minimake.execution.capture import per_thread_streams
from minimake.execution.groups import kill_groups
from minimake.execution.recipes import RecipeSpec, ShellSpec
from minimake.result import Environment, Outcome, Status
from minimake.task import Task, describe_recipe

# Nothing ever waits on a Future that is done before anyone sees it: one Condition serves them
# all, where Future() makes a Condition and an RLock of its own, 1.5 µs of each task of a -n.
_SETTLED = threading.Condition()


class _Done(Future[Outcome]):
    """A Future born done with ``outcome``: a pretended recipe's, one per task of a -n."""

    def __init__(self, outcome: Outcome) -> None:
        # Future's own fields (CPython's concurrent.futures), as set_result() leaves them.
        self._condition = _SETTLED
        self._state = FINISHED
        self._result = outcome
        self._exception = None
        self._waiters: list[Any] = []
        self._done_callbacks: list[Callable[[Future[Outcome]], object]] = []

    # Asked once per task: no lock to take for what never changes.
    def done(self) -> bool:
        return True

    def result(self, timeout: float | None = None) -> Outcome:
        return cast(Outcome, self._result)  # set at birth, never None


# An Outcome is a frozen value: every pretended success can share one.
_SUCCEEDED = Outcome(ok=True)


class _Pretending:
    """A runner that carries out no recipe (-n, -q, -t): nothing runs long enough to halt,
    stop or wait for."""

    pretends = True  # dependents must assume its targets became new (make's -n/-q/-t rule)
    touches = False
    capacity = 1
    can_stop = True

    def halt(self) -> None:
        pass

    def stop(self, signum: int) -> None:
        pass

    def wait(
        self, futures: Collection[Future[Outcome]], timeout: float | None = None
    ) -> set[Future[Outcome]]:
        return {future for future in futures if future.done()}  # each is done when started

    def close(self, cancel: bool = False) -> None:
        pass


class DryRunner(_Pretending):
    """``-n`` and ``-q``: every recipe "succeeds" at once without running."""

    status = Status.WOULD_RUN

    def __init__(self, describe: Callable[[Task], list[str]] = describe_recipe) -> None:
        self._describe = describe

    def echo(self, task: Task) -> list[str]:
        # Even a silent task's lines: make -n prints "@" lines too.
        return self._describe(task)

    def start(self, task: Task, env: Environment = ()) -> Future[Outcome]:
        return _Done(_SUCCEEDED)


def touched(task: Task) -> tuple[str, ...]:
    """What ``-t`` touches: a task's targets when it has a recipe, never a phony one's (make)."""
    return task.outputs if task.recipe is not None else ()


def _touches(task: Task) -> list[str]:
    return [f"touch {path}" for path in touched(task)]


class DryTouchRunner(DryRunner):
    """``-t -n``: print the touches ``-t`` would do, and do none of them (make's rule)."""

    touches = True

    def echo(self, task: Task) -> list[str]:
        return _touches(task)


class TouchRunner(_Pretending):
    """``-t``: mark targets up to date by touching them instead of running recipes."""

    status = Status.TOUCHED
    touches = True

    def __init__(self, disk: Disk) -> None:
        self._disk = disk

    def echo(self, task: Task) -> list[str]:
        return _touches(task)

    def start(self, task: Task, env: Environment = ()) -> Future[Outcome]:
        for path in touched(task):
            try:
                self._disk.touch(path)
            except OSError as error:  # make: "touch: open: sub/x: No such file or directory"
                return _Done(Outcome(ok=False, error=f"touch: open: {path}: {error.strerror}"))
        return _Done(_SUCCEEDED)


class LocalRunner:
    """Runs recipes on this machine: shell recipes on minimake's own ShellExecutor, Python
    recipes on a process pool (or threads, or the caller's Executor).

    The scheduler's ``-j`` bound covers both executors: it starts no more tasks than that.
    When a pool worker dies, only the task it ran fails, saying how; the pool replaces the
    worker, and the recipes on other workers never notice.
    """

    status = Status.RAN
    pretends = False
    touches = False
    capacity = 1

    def __init__(
        self,
        spec_of: Callable[[Task], RecipeSpec],
        python: Callable[[], Executor] | Executor,
        *,
        root: str,
        started: Callable[[str, int], None] | None = None,
        owned: bool = False,
        describe: Callable[[Task], list[str]] = describe_recipe,
    ) -> None:
        self._spec_of = spec_of
        self._describe = describe
        self._shell = spawn.ShellExecutor(started)
        # A factory makes our own pool, when the first Python recipe starts; an Executor is
        # the caller's.
        self._factory = python if callable(python) and not isinstance(python, Executor) else None
        self._pool: Executor | None = python if isinstance(python, Executor) else None
        self._threads = isinstance(python, ThreadPoolExecutor)
        # An Executor made for this build (--executor thread) is shut down with it; a caller's
        # is the caller's to shut down.
        self._owned = owned or self._factory is not None
        self.can_stop = not self._threads  # nothing stops a thread
        self._signalled: set[int] = set()
        self._stopped = False
        self._context = contextlib.ExitStack()
        if self._threads:
            self._context.enter_context(threads_in(root))

    def echo(self, task: Task) -> list[str]:
        # Only the first line of a recipe list now; each later line is echoed into the output as
        # it runs, so a line after a failing one is never shown (make's order). A silent
        # task (make's "@") echoes none.
        return [] if task.silent else self._describe(task)[:1]

    def start(self, task: Task, env: Environment = ()) -> Future[Outcome]:
        spec = self._spec_of(task)
        if env:
            spec = attrs.evolve(spec, env=(*spec.env, *env))
        if isinstance(spec, ShellSpec):
            future: Future[Outcome] = self._shell.submit(spawn.run, spec)
            return future
        return self._start_python(spec)

    def _start_python(self, spec: recipes.PythonSpec) -> Future[Outcome]:
        future: Future[Outcome] = Future()
        if self._pool is None:
            assert self._factory is not None
            self._pool = self._factory()
        pool = self._pool
        try:
            submitted = pool.submit(_python_function(pool), spec)
        except Exception as error:  # a shut-down executor, an unpicklable spec
            future.set_result(_failure(error))
            return future
        submitted.add_done_callback(lambda done: self._collect(future, done))
        return future

    def _collect(self, future: Future[Outcome], submitted: Future[Outcome]) -> None:
        """In the executor's thread: the recipe's Outcome to the scheduler's Future."""
        if submitted.cancelled():
            outcome = Outcome(ok=False, error="cancelled")
        elif (error := submitted.exception()) is None:
            outcome = submitted.result()
        elif self._stopped:
            outcome = Outcome(ok=False, error="interrupted")
        else:
            outcome = _failure(error)
        future.set_result(outcome)
        self._shell.wake()  # the scheduler waits in the shell executor's reaping loop

    def wait(
        self, futures: Collection[Future[Outcome]], timeout: float | None = None
    ) -> set[Future[Outcome]]:
        return self._shell.wait(futures, timeout)

    def halt(self) -> None:
        pass  # make lets the recipes already running finish

    def stop(self, signum: int) -> None:
        """Signal every running recipe's process group, and every group signalled before:
        a recipe's background job ignores SIGINT, so the final SIGKILL must still reach it."""
        self._stopped = True
        self._shell.stop_lines()
        self._signalled |= self._shell.running_groups()
        pool = self._pool
        if pool is not None and self._factory is not None:  # our own ProcessPool
            self._signalled |= pool.groups()  # type: ignore[attr-defined]
        kill_groups(self._signalled, signum)

    def close(self, cancel: bool = False) -> None:
        self._shell.shutdown(wait=not cancel)
        if self._pool is not None and self._owned:
            self._pool.shutdown(wait=not cancel, cancel_futures=cancel)
        self._context.close()


def _python_function(pool: Executor) -> Callable[[recipes.PythonSpec], Outcome]:
    from minimake.execution import pool as pools

    if isinstance(pool, pools.ProcessPool):
        return pools.run
    if isinstance(pool, ThreadPoolExecutor):
        return recipes.run_in_thread
    return recipes.run  # a caller's executor of processes: outputs stat'ed where they ran


@contextlib.contextmanager
def threads_in(root: str) -> Iterator[None]:
    """While a thread executor runs Python recipes: the process works in the project folder,
    as every recipe expects, and each thread's prints can be captured apart."""
    previous = os.getcwd()
    os.chdir(root)
    try:
        with per_thread_streams():
            yield
    finally:
        os.chdir(previous)


def _failure(error: BaseException) -> Outcome:
    from concurrent.futures.process import BrokenProcessPool  # only where one failed

    if isinstance(error, BrokenProcessPool):  # a caller's ProcessPoolExecutor
        return Outcome(ok=False, crashed=True, error="worker process died")
    from minimake.execution.pool import WorkerError

    if isinstance(error, WorkerError):  # already "SystemExit: 3"
        return Outcome(ok=False, error=str(error))
    return Outcome(ok=False, error=f"{type(error).__name__}: {error}")


__all__ = ["DryRunner", "LocalRunner", "TouchRunner", "threads_in"]
