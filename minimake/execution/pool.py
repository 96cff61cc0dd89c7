"""The process pool for Python recipes: an Executor of worker processes, one pipe each, where a
worker's death or a recipe's time limit ends that one worker and the recipe it ran, nothing else.

Each worker leads a process group, dies with minimake, starts from default signal dispositions
and imports the tasks file's ``preload()`` modules. Workers start as recipes need them, never
more than ``jobs``; a dead or retired worker is replaced by the next recipe that finds no idle
one. One thread (the pool's) waits on every worker's pipe and process at once, completes the
Futures, and enforces each call's deadline.

Why not concurrent.futures.ProcessPoolExecutor or loky: one dead worker breaks the whole pool,
and every recipe on it is lost. Why not pebble, which does replace a dead worker and kills a
call past its timeout: it starts every worker at once, stops a worker's process but not its
process group (a recipe's children would live on), and is no concurrent.futures.Executor.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import importlib
import multiprocessing
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, Future
from multiprocessing import connection as connections
from multiprocessing.connection import Connection
from typing import Any

import attrs

from minimake.execution import recipes
from minimake.execution.groups import (
    DEFAULT_SIGNALS,
    TERM_GRACE,
    kill_groups,
    lead_group,
    stop_groups,
)
from minimake.execution.orphans import VARIABLE as RUN_VARIABLE
from minimake.result import Outcome
from minimake.words import death

# Linux's prctl(PR_SET_PDEATHSIG): the kernel signals us when the process that started us ends.
_PR_SET_PDEATHSIG = 1
# A worker says this once it has started (its preload imports done): a call's time runs from then.
_READY = "ready"


@attrs.frozen
class _Raised:
    """An exception raised by a call in a worker, as text: the exception may not pickle."""

    kind: str
    text: str


class WorkerError(Exception):
    """A call raised in a worker: its exception's type name and text."""


def _serve(
    connection: Connection, parent: int, preload: tuple[str, ...], run: str | None = None
) -> None:
    """A worker's life: get ready, then run each call it is sent and send back what came of it,
    until the pipe closes; retire after a call that left files open (see _leaked). ``run``:
    the starting build's token, which a forkserver started by an earlier build would not pass
    on, and by which a later run finds what this worker left running if minimake dies."""
    if run is not None:
        os.environ[RUN_VARIABLE] = run
    # SIGTERM (the pool's, at a time limit, or minimake's at a stop) ends the whole group: the
    # recipe's child processes must not outlive their recipe.
    lead_group(parent, on_term=_end_group)
    _die_with()
    for signum in DEFAULT_SIGNALS:
        signal.signal(signum, signal.SIG_DFL)
    _preload(preload)
    connection.send(_READY)
    kept = _descriptors()
    while True:
        try:
            call = connection.recv()
        except (EOFError, OSError):
            return
        function, args, kwargs = call
        try:
            result: Any = function(*args, **kwargs)
        except BaseException as error:
            result = _Raised(type(error).__name__, str(error))
        retiring = _leaked(kept)
        try:
            connection.send((result, retiring))
        except Exception as error:  # a result that does not pickle
            connection.send((_Raised(type(error).__name__, str(error)), retiring))
        if retiring:
            return


def _descriptors() -> set[int]:
    """The worker's open descriptors, less those on /proc: this listing's own, and the read of
    /proc/PID/stat by the thread that watches minimake, which may be open at any moment (held
    open while that thread waits for the GIL), and would look like a recipe's leak."""
    found: set[int] = set()
    with contextlib.suppress(OSError):
        for name in os.listdir("/proc/self/fd"):
            try:
                target = os.readlink(f"/proc/self/fd/{name}")
            except OSError:
                continue  # closed since the listing
            if not target.startswith("/proc/"):
                found.add(int(name))
    return found


def _leaked(kept: set[int]) -> bool:
    """Whether the call left file descriptors open beyond ``kept``: then the worker retires, as
    make's next recipe would get a fresh process. Closing them instead would be unsafe: a file
    object the recipe still holds would close the number again later, when it may name the next
    recipe's output. Unreachable file objects are collected first, which closes theirs."""
    if _descriptors() <= kept:
        return False
    gc.collect()
    return not _descriptors() <= kept


def _preload(modules: tuple[str, ...]) -> None:
    for module in modules:
        with contextlib.suppress(Exception):  # the recipe that needs it will say what is wrong
            importlib.import_module(module)


def _end_group(signum: int, frame: Any) -> None:
    # The worker and the recipe's children with it, at once: whoever stops a worker (a time
    # limit, minimake's end) has no use for a recipe that goes on writing its target.
    os.killpg(os.getpid(), signal.SIGKILL)


def _die_with() -> None:
    """End this worker at once when the process that started it ends, even by SIGKILL: the
    kernel's parent-death signal, where there is one. lead_group's watch of minimake covers
    the rest (the death signal follows the thread that forked us, and a forkserver's worker has
    another parent)."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def run(spec: recipes.PythonSpec) -> Outcome:
    """In a worker: run one Python recipe."""
    return recipes.run_in_process(spec)


@attrs.define(eq=False)
class _Call:
    future: Future[Any]
    message: tuple[Any, ...]  # (function, args, kwargs)
    name: str  # the task's, for the journal when the call starts a worker
    timeout: float | None
    started: float = 0.0


@attrs.define(eq=False)
class _Worker:
    process: Any  # multiprocessing's BaseProcess
    connection: Connection
    ready: bool = False  # its preload is done: a call's time runs
    call: _Call | None = None
    deadline: float | None = None  # when its call's time is up
    killing: float | None = None  # when the group gets SIGKILL, once SIGTERM went out
    timed_out: bool = False

    @property
    def pid(self) -> int:
        return int(self.process.pid)


class ProcessPool(Executor):
    """Runs calls in up to ``jobs`` worker processes; each call's Future gets its result, or,
    if its worker died, an ``Outcome`` that says how (or that its time was up).

    ``submit`` never queues a call behind a busy worker when it may start another: a call waits
    only when ``jobs`` workers are busy (the scheduler's -j bound keeps it from that).
    """

    def __init__(
        self,
        jobs: int,
        start_method: str | None = None,
        spawned: Callable[[str, int], None] | None = None,
        preload: tuple[str, ...] = (),
    ) -> None:
        self._context = multiprocessing.get_context(start_method)
        self.jobs = jobs
        self.start_method = self._context.get_start_method()
        # Told (task, pid) of each worker as it starts: the journal records the group it leads.
        self._spawned = spawned
        self._preload = preload
        self._lock = threading.Lock()
        self._workers: list[_Worker] = []
        self._idle: list[_Worker] = []
        self._waiting: deque[_Call] = deque()
        self._wake_read, self._wake_write = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        self._thread: threading.Thread | None = None
        self._closed = False

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        spec = args[0] if args else None
        if isinstance(spec, recipes.PythonSpec):
            call = _Call(Future(), (fn, args, kwargs), spec.name, spec.timeout)
        else:
            call = _Call(Future(), (fn, args, kwargs), "", None)
        call.future.set_running_or_notify_cancel()
        with self._lock:
            if self._closed:
                raise RuntimeError("cannot schedule new futures after shutdown")
            worker = self._idle.pop() if self._idle else None
            if worker is None and len(self._workers) >= self.jobs:
                self._waiting.append(call)
                return call.future
        if worker is None:
            worker = self._start_worker(call.name)
        self._send(worker, call)
        return call.future

    def _start_worker(self, name: str) -> _Worker:
        ours, theirs = self._context.Pipe()
        process = self._context.Process(  # type: ignore[attr-defined]
            # Not a daemon: a daemon may start no processes of multiprocessing's, and a recipe
            # may start a pool. shutdown() ends every worker, so none is left to join at exit.
            target=_serve,
            args=(theirs, os.getpid(), self._preload, os.environ.get(RUN_VARIABLE)),
        )
        process.start()
        theirs.close()
        worker = _Worker(process, ours)
        with self._lock:
            self._workers.append(worker)
            if self._thread is None:
                self._thread = threading.Thread(target=self._manage, daemon=True)
                self._thread.start()
        if self._spawned is not None:
            self._spawned(name, worker.pid)
        return worker

    def _send(self, worker: _Worker, call: _Call) -> None:
        with self._lock:
            worker.call = call
            call.started = time.monotonic()
            if worker.ready and call.timeout is not None:
                worker.deadline = call.started + call.timeout
            try:
                worker.connection.send(call.message)
                error = None
            except Exception as raised:  # a call that does not pickle, or a worker just gone
                error = raised
                worker.call = worker.deadline = None
                if not isinstance(error, OSError):
                    self._idle.append(worker)
        if error is not None:
            call.future.set_exception(error)
        self._wake()  # the pool's thread now watches this worker, and its deadline

    def _wake(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self._wake_write, b"x")

    def _manage(self) -> None:
        """The pool's thread: collect results, notice deaths, enforce deadlines."""
        while True:
            with self._lock:
                if self._closed and not self._workers:
                    return
                workers = list(self._workers)
                timeout = self._next_deadline()
            waited: list[Any] = [self._wake_read]
            for worker in workers:
                waited += [worker.connection, worker.process.sentinel]
            ready = set(connections.wait(waited, timeout))
            if self._wake_read in ready:
                with contextlib.suppress(BlockingIOError):
                    os.read(self._wake_read, 4096)
            for worker in workers:
                if worker.connection in ready:
                    self._received(worker)
                elif worker.process.sentinel in ready:
                    self._died(worker)
            self._enforce(time.monotonic())

    def _next_deadline(self) -> float | None:
        times = [w.killing or w.deadline for w in self._workers]
        due = [when for when in times if when is not None]
        return max(0.0, min(due) - time.monotonic()) if due else None

    def _received(self, worker: _Worker) -> None:
        try:
            message = worker.connection.recv()
        except (EOFError, OSError):
            self._died(worker)
            return
        if message == _READY:
            with self._lock:
                worker.ready = True
                call = worker.call
                if call is not None and call.timeout is not None:
                    call.started = time.monotonic()
                    worker.deadline = call.started + call.timeout
            return
        result, retiring = message
        with self._lock:
            call, worker.call, worker.deadline = worker.call, None, None
            # A worker whose time was up as its result came has its SIGTERM on the way: it
            # must not take the next recipe, which would die with it.
            retiring = retiring or worker.timed_out
            if retiring:
                self._workers.remove(worker)
            else:
                self._idle.append(worker)  # before the Future: the next recipe may take it
        if retiring:
            # Killed, not waited for: a thread its recipe left running would keep it alive.
            stop_groups({worker.pid})
            worker.process.join()
            worker.connection.close()
        if call is not None:
            _settle(call.future, result)
        self._dispatch()

    def _died(self, worker: _Worker) -> None:
        """A worker ended: its group goes (what its recipe started), then its call fails."""
        with self._lock:
            if worker not in self._workers:
                return
            self._workers.remove(worker)
            if worker in self._idle:
                self._idle.remove(worker)
            call, worker.call = worker.call, None
        stop_groups({worker.pid})
        worker.process.join()
        worker.connection.close()
        if call is not None:
            if worker.timed_out:
                outcome = Outcome(ok=False, timed_out=call.timeout)
            else:
                how = death(worker.process.exitcode)
                outcome = Outcome(ok=False, crashed=True, error=f"worker process died ({how})")
            call.future.set_result(outcome)
        self._dispatch()

    def _dispatch(self) -> None:
        """Hand a waiting call to an idle worker, or to a new one where there is room."""
        with self._lock:
            if not self._waiting or self._closed:
                return
            call = self._waiting.popleft()
            worker = self._idle.pop() if self._idle else None
        if worker is None:
            worker = self._start_worker(call.name)
        self._send(worker, call)

    def _enforce(self, now: float) -> None:
        """SIGTERM to the group of a worker whose call's time is up; SIGKILL after a grace."""
        with self._lock:
            for worker in self._workers:
                if worker.killing is not None and now >= worker.killing:
                    worker.killing = None
                    kill_groups({worker.pid}, signal.SIGKILL)
                elif worker.deadline is not None and now >= worker.deadline:
                    worker.deadline, worker.timed_out = None, True
                    worker.killing = now + TERM_GRACE
                    kill_groups({worker.pid}, signal.SIGTERM)

    def groups(self) -> set[int]:
        """The process group of every worker (each leads its own)."""
        with self._lock:
            return {worker.pid for worker in self._workers}

    def kill(self, signum: int) -> None:
        """Send ``signum`` to every worker's process group."""
        kill_groups(self.groups(), signum)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop the pool. Workers are killed with their groups once no call runs: one that a
        recipe left with a thread that never ends would otherwise keep minimake from exiting."""
        with self._lock:
            waiting = list(self._waiting) if cancel_futures else []
            if cancel_futures:
                self._waiting.clear()
        for call in waiting:
            call.future.cancel()
        if wait:
            with self._lock:
                pending = [w.call.future for w in self._workers if w.call] + [
                    c.future for c in self._waiting
                ]
            for future in pending:
                with contextlib.suppress(Exception):
                    future.result()
        with self._lock:
            self._closed = True
            workers = list(self._workers)
        stop_groups({worker.pid for worker in workers})
        self._wake()
        if self._thread is not None:
            self._thread.join()
        for worker in workers:
            worker.process.join()
            worker.connection.close()
        os.close(self._wake_read)
        os.close(self._wake_write)


def _settle(future: Future[Any], result: Any) -> None:
    if isinstance(result, _Raised):
        future.set_exception(WorkerError(f"{result.kind}: {result.text}"))
    else:
        future.set_result(result)


def check_start_method(name: str | None) -> str | None:
    """``name`` if this platform has that start method (None: the default); else ValueError."""
    if name and name not in multiprocessing.get_all_start_methods():
        methods = ", ".join(multiprocessing.get_all_start_methods())
        raise ValueError(f"unknown start method '{name}' (choose {methods})")
    return name or None


def process_pool(
    jobs: int,
    start_method: str | None = None,
    spawned: Callable[[str, int], None] | None = None,
    preload: tuple[str, ...] = (),
) -> ProcessPool:
    """A pool of up to ``jobs`` worker processes (``start_method``: fork, forkserver or spawn);
    ``spawned(task, pid)`` is told of each worker as it starts; each imports ``preload``."""
    method = start_method or os.environ.get("MINIMAKE_START_METHOD") or None
    return ProcessPool(jobs, check_start_method(method), spawned, preload)
