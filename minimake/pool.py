"""minimake's default executor: a process pool whose workers can be stopped as process groups."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from minimake import recipes

# The queue on which this worker says which task it is running (set in each worker).
_announce: Any = None


def _start(pids: Any) -> None:
    global _announce
    recipes.mark_worker()
    _announce = pids
    pids.put((os.getpid(), None))
    # Workers lead their own session, so a terminal's Ctrl-C reaches only minimake, which then
    # stops each worker's group itself; the default handler keeps a stray SIGINT from hanging one.
    # A forked worker inherits the CLI's SIGTERM handler too; the pool's own shutdown sends
    # SIGTERM, which must simply end the worker.
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)


def run_announced(spec: recipes.RecipeSpec) -> recipes.Outcome:
    """Tell the pool which worker runs ``spec`` (to name a task whose worker dies), then run it."""
    if _announce is not None:
        _announce.put((os.getpid(), spec.name))
    return recipes.run(spec)


class ProcessPool(ProcessPoolExecutor):
    """A ProcessPoolExecutor whose workers each lead a process group.

    A recipe (and every process it starts) runs in its worker's group, so ``kill`` stops it all:
    no orphaned grandchildren after Ctrl-C.
    """

    def __init__(self, jobs: int, start_method: str | None = None) -> None:
        context = multiprocessing.get_context(start_method)
        self._pids = context.SimpleQueue()
        self._known: dict[int, str | None] = {}
        self.jobs = jobs
        self.start_method = context.get_start_method()
        super().__init__(
            max_workers=jobs, mp_context=context, initializer=_start, initargs=(self._pids,)
        )

    def worker_pids(self) -> dict[int, str | None]:
        """Every worker process started so far, with the task it last started."""
        while not self._pids.empty():
            pid, name = self._pids.get()
            self._known[pid] = name
        return dict(self._known)

    def kill(self, signum: int) -> None:
        """Send ``signum`` to every worker's process group."""
        recipes.kill_groups(set(self.worker_pids()), signum)

    def exit_codes(self, within: float = 1.0) -> dict[int, int | None]:
        """Exit codes of the worker processes, to say which one died and how.

        The pool reports a break as soon as a worker's pipe closes, a moment before the kernel
        has the dead process's status; wait up to ``within`` seconds for at least one.
        """
        processes = dict(getattr(self, "_processes", None) or {})
        deadline = time.monotonic() + within
        while True:
            codes = {pid: process.exitcode for pid, process in processes.items()}
            if any(code is not None for code in codes.values()) or time.monotonic() > deadline:
                return codes
            time.sleep(0.01)


def process_pool(jobs: int, start_method: str | None = None) -> ProcessPool:
    """A pool of ``jobs`` worker processes (``start_method``: fork, forkserver or spawn)."""
    return ProcessPool(jobs, start_method or os.environ.get("MINIMAKE_START_METHOD") or None)
