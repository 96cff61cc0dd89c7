"""The process pool for Python recipes: a ProcessPoolExecutor whose workers each lead a process
group, die with minimake, and say in shared memory which task they are running.

That last part names the task whose worker died. It is a fixed slot per worker, written before
and after each recipe: nothing queues up, so nothing can fill while nobody reads it.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import multiprocessing
import os
import signal
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

from minimake.execution import recipes
from minimake.execution.groups import kill_groups, lead_group
from minimake.result import Outcome

# Linux's prctl(PR_SET_PDEATHSIG): the kernel signals us when the process that started us ends.
_PR_SET_PDEATHSIG = 1
# This worker's slot in the pool's table (set in each worker).
_slots: Any = None
_slot = -1


def _start(slots: Any, taken: Any, parent: int, preload: tuple[str, ...] = ()) -> None:
    """Pool initializer: lead a process group, die with the parent, take a slot, import the
    tasks file's ``preload()`` modules."""
    global _slots, _slot
    # SIGTERM (the pool's own, or ours) ends the whole group: the recipe's child processes
    # must not outlive their recipe.
    lead_group(parent, on_term=_end_group)
    _die_with()
    with taken.get_lock():
        _slot = taken.value
        taken.value += 1
    if 2 * _slot < len(slots):  # more workers than slots: this one cannot be named if it dies
        _slots = slots
        slots[2 * _slot] = os.getpid()
        slots[2 * _slot + 1] = -1
    _preload(preload)


def _preload(modules: tuple[str, ...]) -> None:
    # Every worker starts at the first Python recipe, so these imports run side by side while
    # the first recipes run, instead of once per worker ahead of each worker's first recipe.
    for module in modules:
        with contextlib.suppress(Exception):  # the recipe that needs it will say what is wrong
            importlib.import_module(module)


def _end_group(signum: int, frame: Any) -> None:
    # The worker and the recipe's children with it, at once: whoever stops a worker (the pool
    # when it breaks, minimake's end) has no use for a recipe that goes on writing its target.
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
    """In a worker: note which task runs here, then run it."""
    if _slots is not None:
        _slots[2 * _slot + 1] = spec.number
    try:
        return recipes.run_in_process(spec)
    finally:
        if _slots is not None:
            _slots[2 * _slot + 1] = -1


class ProcessPool(ProcessPoolExecutor):
    """A ProcessPoolExecutor for Python recipes, whose workers can be stopped as groups."""

    def __init__(
        self,
        jobs: int,
        start_method: str | None = None,
        spawned: Callable[[str, int], None] | None = None,
        preload: tuple[str, ...] = (),
    ) -> None:
        context = multiprocessing.get_context(start_method)
        # Told (task, pid) of each worker as it starts: the journal records the group it leads.
        self._spawned = spawned
        self._submitting = ""
        self._slots = context.Array("q", 2 * jobs, lock=False)
        self._taken = context.Value("i", 0)
        self.jobs = jobs
        self.start_method = context.get_start_method()
        super().__init__(
            max_workers=jobs,
            mp_context=context,
            initializer=_start,
            initargs=(self._slots, self._taken, os.getpid(), preload),
        )
        # Start every worker with the first task, as under fork. A worker that the pool starts
        # later, on demand (spawn, forkserver), is missing from the set of processes its
        # manager thread watches until something wakes that thread again: its death would go
        # unnoticed, and the build would wait forever (CPython 3.11's process.py).
        self._safe_to_dynamically_spawn_children = False

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        # The pool starts its workers inside submit(): remember for which task.
        if args and isinstance(args[0], recipes.PythonSpec):
            self._submitting = args[0].name
        return super().submit(fn, *args, **kwargs)

    def _spawn_process(self) -> None:
        before = set(self._processes)
        super()._spawn_process()  # type: ignore[misc]
        if self._spawned is not None:
            for pid in set(self._processes) - before:
                self._spawned(self._submitting, pid)

    def running(self) -> dict[int, int]:
        """Each worker started so far (pid) and the number of the task it runs now, or -1."""
        count = min(self._taken.value, self.jobs)
        table = list(self._slots[: 2 * count])
        return {table[2 * i]: table[2 * i + 1] for i in range(count) if table[2 * i] > 0}

    def kill(self, signum: int) -> None:
        """Send ``signum`` to every worker's process group."""
        kill_groups(set(self.running()), signum)

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
    """A pool of ``jobs`` worker processes (``start_method``: fork, forkserver or spawn);
    ``spawned(task, pid)`` is told of each worker as it starts; each imports ``preload``."""
    method = start_method or os.environ.get("MINIMAKE_START_METHOD") or None
    return ProcessPool(jobs, check_start_method(method), spawned, preload)
