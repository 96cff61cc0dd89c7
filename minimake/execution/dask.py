"""Recipes on a Dask cluster: the client's runner (the workers' side is dask_worker.py).

Only this module imports ``distributed``, and only once the dask executor is chosen. What we
measured of Dask (``bench/dask_overhead.py``, docs/cluster.md) shapes it:

- One top-level function, ``dask_worker.run_task(spec, build, folder, run)``, is submitted with
  positional plain data and ``pure=False``; keyword arguments to ``submit`` would be
  Dask's, not ours.
- A running Dask task cannot be cancelled, so a worker never runs a recipe in its own threads:
  it hands the recipe to a Python process of the build's (``_Child``, a process group leader
  like a local pool worker), whose group a ``client.run`` kills when the build stops.
- Dask reruns a task whose worker died. A marker file per task and run, created with O_EXCL in
  the build's folder under the project, makes a second attempt fail with a message instead;
  minimake's own retry (``retries=``) is the task's next run, with a key and marker of its own.
- Futures are released as soon as their Outcome is read: Dask recomputes held results that
  were on a worker that died.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import sys
import sysconfig
import threading
import time
import uuid
from collections.abc import Callable, Collection, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, wait
from typing import TYPE_CHECKING, Any

import attrs

from minimake import __version__
from minimake.errors import MinimakeError, UsageError
from minimake.execution.dask_worker import end_build, probe, run_task, stop_build
from minimake.execution.recipes import RecipeSpec
from minimake.resources import Amounts, ResourceError, text
from minimake.result import Environment, Outcome, Status
from minimake.script import shown_recipe
from minimake.task import Task

if TYPE_CHECKING:
    from distributed import Client

# Per build, under the project: the probe file and one marker per started task.
FOLDER = os.path.join(".minimake", "dask")
# Seconds the client waits for an output a worker wrote to show up here (--latency-wait).
LATENCY_WAIT = 5.0
# Seconds to wait for a first worker of a cluster that has none yet (batch jobs start late).
WORKERS_WAIT = float(os.environ.get("MINIMAKE_DASK_WORKERS_WAIT", "60"))
# Seconds between the signal that stops a build's recipes and the SIGKILL that follows it.
GRACE = 2.0


class ClusterError(MinimakeError):
    """The Dask cluster cannot run this build: unreachable, no workers, or a different view."""


# --------------------------------------------------------------------------------------------
# The client side


class DaskRunner:
    """Runs started tasks on a Dask cluster; see the module docstring for how."""

    status = Status.RAN
    pretends = False
    touches = False
    can_stop = True  # every recipe runs in a process group of its own on a worker

    def __init__(
        self,
        client: Client,
        spec_of: Callable[[Task], RecipeSpec],
        root: str,
        build: str,
        *,
        capacity: int,
        latency_wait: float = LATENCY_WAIT,
        owned: tuple[Any, ...] = (),
    ) -> None:
        self.capacity = capacity  # the cluster's worker threads: -j when not given
        self._client, self._spec_of, self._root, self._build = client, spec_of, root, build
        self._folder = os.path.join(root, FOLDER, build)
        self._latency_wait, self._owned = latency_wait, owned
        self._lock = threading.Lock()
        self._flights: dict[str, tuple[Any, Future[Outcome]]] = {}
        self._runs: dict[str, int] = {}  # how often each task was started: a retry's key differs
        self._stopped = False  # by a signal (Ctrl-C)

    @classmethod
    def open(
        cls,
        spec_of: Callable[[Task], RecipeSpec],
        root: str,
        *,
        executor: object = None,
        scheduler: str | None = None,
        scheduler_file: str | None = None,
        jobs: int | None = None,
        latency_wait: float | None = None,
        requests: Mapping[str, Amounts] | None = None,
    ) -> DaskRunner:
        """Connect (or start a loopback cluster of ``jobs`` workers), then check, before
        anything runs, that every worker sees the project and some worker has each resource."""
        client, owned = _connect(executor, scheduler, scheduler_file, jobs)
        try:
            workers = _workers(client, scheduler or scheduler_file)
            _check_resources(requests or {}, workers)
            # Named after this run's pid: a later run removes it if this one is killed.
            build = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
            _probe_all(client, os.path.join(root, FOLDER, build), root)
        except BaseException:
            _close(owned)
            raise
        capacity = sum(int(worker.get("nthreads", 1)) for worker in workers.values())
        wait = LATENCY_WAIT if latency_wait is None else latency_wait
        return cls(
            client,
            spec_of,
            root,
            build,
            capacity=max(1, capacity),
            latency_wait=wait,
            owned=owned,
        )

    def echo(self, task: Task) -> list[str]:
        return [] if task.silent else shown_recipe(task)

    def start(self, task: Task, env: Environment = ()) -> Future[Outcome]:
        future: Future[Outcome] = Future()
        # Dask keeps a key's result (and error) while it knows the key: a retry of the task
        # gets a key of its own, or it would be handed the failed attempt's result.
        runs = self._runs[task.name] = self._runs.get(task.name, 0) + 1
        key = f"{task.name}-{self._build}" + (f"-{runs}" if runs > 1 else "")
        spec = self._spec_of(task)
        if env:
            spec = attrs.evolve(spec, env=(*spec.env, *env))
        try:
            submitted = self._client.submit(
                run_task,
                spec,
                self._build,
                self._folder,
                runs,
                key=key,
                pure=False,
                retries=0,
                resources=dict(task.resources) or None,
            )
        except Exception as error:  # an unpicklable spec, a closed client
            future.set_result(_failure(error))
            return future
        with self._lock:
            self._flights[key] = (submitted, future)
        submitted.add_done_callback(lambda done: self._collect(key, done))  # type: ignore[no-untyped-call]
        return future

    def _collect(self, key: str, done: Any) -> None:
        """In Dask's callback thread: read the Outcome, drop the Dask future, resolve ours."""
        with self._lock:
            flight = self._flights.pop(key, None)
        if flight is None:
            return
        try:
            outcome = self._outcome(done)
            done.release()
            if outcome.ok:
                outcome = self._await_outputs(outcome)
        except Exception as error:  # the scheduler waits on this future: it must resolve
            outcome = _failure(error)
        flight[1].set_result(outcome)

    def _outcome(self, done: Any) -> Outcome:
        if done.cancelled():
            return Outcome(ok=False, error="interrupted" if self._stopped else "cancelled")
        try:
            outcome = done.result()
        except Exception as error:
            if type(error).__name__ != "KilledWorker":
                return _failure(error)
            worker = getattr(error.args[1], "address", error.args[1]) if error.args[1:] else "?"
            message = f"Dask worker {worker} was lost while running it (not run again)"
            return Outcome(ok=False, crashed=True, error=message)
        assert isinstance(outcome, Outcome)
        return outcome

    def _await_outputs(self, outcome: Outcome) -> Outcome:
        """Wait up to latency_wait for the outputs the worker saw to show up here too."""
        deadline = time.monotonic() + self._latency_wait
        for path, mtime in outcome.mtimes:
            if mtime is None:
                continue  # the recipe left it missing: the scheduler sees that for itself
            full = os.path.join(self._root, path)
            while not _visible(full):
                if time.monotonic() >= deadline:
                    return attrs.evolve(
                        outcome,
                        ok=False,
                        error=f"'{path}' was written on the worker but is not visible here "
                        f"after {self._latency_wait:g} s (raise --latency-wait)",
                    )
                time.sleep(0.1)
        return outcome

    def _signal_workers(self, signum: int, grace: float = 0.0) -> None:
        with contextlib.suppress(Exception):
            self._client.run(stop_build, self._build, int(signum), grace, on_error="ignore")

    def _cancel(self) -> None:
        with self._lock:
            pending = [submitted for submitted, _ in self._flights.values()]
        if pending:
            with contextlib.suppress(Exception):
                self._client.cancel(pending, force=True)  # type: ignore[no-untyped-call]

    def halt(self) -> None:
        """End the recipes still running: on a cluster they may run for hours."""
        if not self._stopped:
            self._signal_workers(signal.SIGTERM, GRACE)

    def stop(self, signum: int) -> None:
        """Kill the build's recipes on every worker (their process groups); tasks that reach a
        worker later do not start."""
        self._stopped = True
        self._signal_workers(signum)  # their futures resolve as the recipes die

    def wait(
        self, futures: Collection[Future[Outcome]], timeout: float | None = None
    ) -> set[Future[Outcome]]:
        done, _ = wait(futures, timeout, return_when=FIRST_COMPLETED)
        return done

    def close(self, cancel: bool = False) -> None:
        if cancel:
            self._cancel()
        with contextlib.suppress(Exception):
            self._client.run(end_build, self._build, on_error="ignore")
        _remove(self._folder)
        _close(self._owned)


def _remove(folder: str) -> None:
    """Delete a build's folder, then .minimake/dask and .minimake if that left them empty."""
    shutil.rmtree(folder, ignore_errors=True)
    for parent in (os.path.dirname(folder), os.path.dirname(os.path.dirname(folder))):
        with contextlib.suppress(OSError):
            os.rmdir(parent)


def _visible(path: str) -> bool:
    # Listing the folder makes an NFS client revalidate it; a plain stat may be served stale.
    with contextlib.suppress(OSError):
        os.listdir(os.path.dirname(path) or ".")
    return os.path.lexists(path)


def _failure(error: BaseException) -> Outcome:
    return Outcome(ok=False, error=f"{type(error).__name__}: {error}")


def _close(things: tuple[Any, ...]) -> None:
    for thing in things:
        with contextlib.suppress(Exception):
            thing.close()


def _connect(
    executor: object, scheduler: str | None, scheduler_file: str | None, jobs: int | None
) -> tuple[Client, tuple[Any, ...]]:
    """The client to use, and what we started and must close (client, cluster)."""
    try:
        import dask
        import distributed
    except ImportError as error:
        raise ClusterError(
            "The dask executor needs the 'distributed' package: pip install 'minimake[dask]'."
        ) from error
    if executor is not None:
        client = executor if isinstance(executor, distributed.Client) else None
        client = client or getattr(executor, "_client", None)  # client.get_executor()
        if not isinstance(client, distributed.Client):
            raise UsageError(f"Not a Dask client or executor: {executor!r}.")
        return client, ()
    if scheduler or scheduler_file:
        where = f"'{scheduler}'" if scheduler else f"the scheduler file '{scheduler_file}'"
        if scheduler_file:
            _await_file(scheduler_file, dask.config.get("distributed.comm.timeouts.connect"))
        try:
            client = distributed.Client(scheduler, scheduler_file=scheduler_file)  # type: ignore[no-untyped-call]
        except (OSError, TimeoutError, ValueError) as error:
            raise ClusterError(f"Cannot reach the Dask scheduler at {where}: {error}") from error
        return client, (client,)
    # A cluster of our own: loopback only, dashboards included, and a worker's death fails its
    # task at once (KilledWorker) instead of rerunning it elsewhere.
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}), _sigint_ignored():
        cluster = distributed.LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=jobs or 1,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",
            worker_dashboard_address="127.0.0.1:0",
            silence_logs=logging.ERROR,
        )
    try:
        client = distributed.Client(cluster)  # type: ignore[no-untyped-call]
    except BaseException:
        cluster.close()
        raise
    return client, (client, cluster)


def _await_file(path: str, timeout: str | float) -> None:
    """Wait for a scheduler file that a scheduler started just before may not have written
    yet (Dask's own wait has no end)."""
    from dask.utils import parse_timedelta

    seconds = parse_timedelta(timeout, "s") or 0
    deadline = time.monotonic() + seconds
    while not os.path.exists(path):
        if time.monotonic() >= deadline:
            raise ClusterError(f"No Dask scheduler file '{path}' (waited {seconds:g} s).")
        time.sleep(0.1)


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    """A terminal's Ctrl-C reaches its whole foreground process group; worker processes started
    meanwhile ignore it for good (Python keeps an inherited SIG_IGN) and leave it to minimake,
    which stops their recipes itself."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _workers(client: Client, where: str | None) -> dict[str, dict[str, Any]]:
    workers: dict[str, dict[str, Any]] = client.scheduler_info(n_workers=-1)["workers"]
    if workers:
        return workers
    try:
        client.wait_for_workers(1, timeout=WORKERS_WAIT)
    except TimeoutError as error:
        at = f" at '{where}'" if where else ""
        raise ClusterError(
            f"The Dask scheduler{at} has no workers (waited {WORKERS_WAIT:g} s)."
        ) from error
    workers = client.scheduler_info(n_workers=-1)["workers"]
    return workers


def _check_resources(requests: Mapping[str, Amounts], workers: Mapping[str, Any]) -> None:
    """A task that asks for what no worker has would wait forever: refuse it now."""
    offers = [dict(worker.get("resources") or {}) for worker in workers.values()]
    for task, request in requests.items():
        if any(all(offer.get(n, 0) >= a for n, a in request) for offer in offers):
            continue
        have = sorted({text(offer) for offer in offers if offer})
        raise ResourceError(
            f"Task '{task}' asks for {text(request)}, which no Dask worker has "
            f"(workers offer: {'; '.join(have) or 'no resources'})."
        )


def _probe_all(client: Client, folder: str, root: str) -> None:
    """Write a probe file into the project; every worker must read it back at the same path."""
    os.makedirs(folder)
    marker = os.path.join(folder, "probe")
    with open(marker, "w") as file:
        file.write(folder)
    try:
        answers = client.run(probe, marker, folder, __version__, on_error="return")
    except Exception as error:
        _remove(folder)
        raise ClusterError(f"Cannot probe the Dask workers: {error}") from error
    problems = {
        worker: answer if isinstance(answer, str) else f"{type(answer).__name__}: {answer}"
        for worker, answer in answers.items()
        if answer is not None
    }
    if problems:
        _remove(folder)
        listed = "; ".join(f"{w}: {p}" for w, p in sorted(problems.items())[:3])
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise ClusterError(
            f"Dask workers cannot run this build: {listed}{more}. Workers must see the "
            f"project folder '{root}' at the same path, with the same minimake."
        )


def dumps(value: Any) -> bytes:
    """Pickle a recipe for a worker with cloudpickle; a recipe from a module of the user's
    (not installed, so maybe not importable there) goes by value."""
    import cloudpickle  # type: ignore[import-untyped]

    registered = set(cloudpickle.list_registry_pickle_by_value())
    added = [m for m in _user_modules(value) if m.__name__ not in registered]
    for module in added:
        cloudpickle.register_pickle_by_value(module)
    try:
        return bytes(cloudpickle.dumps(value))
    finally:
        for module in added:
            cloudpickle.unregister_pickle_by_value(module)


def _user_modules(value: Any) -> list[Any]:
    installed = {sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    package = os.path.dirname(os.path.abspath(__file__))
    function = value[0] if isinstance(value, tuple) and value else value
    while getattr(function, "func", None) is not None:  # functools.partial
        function = function.func
    module = sys.modules.get(getattr(function, "__module__", None) or "")
    path = os.path.abspath(getattr(module, "__file__", None) or "")
    if module is None or module.__name__ == "__main__" or not path:
        return []  # cloudpickle sends __main__ by value already
    if path.startswith(package) or any(path.startswith(folder) for folder in installed):
        return []
    return [module]
