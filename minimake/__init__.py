"""minimake: a make-compatible DAG task runner for Python, with a process pool.

Declare tasks in a tasks.py with ``task`` and ``phony``; run ``minimake -j4 all``; or call
``minimake.build(...)`` from Python.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from minimake.recipe_env import attempt, failed_deps
from minimake.task import Task, phony, preload, rerun_triggers, task, var

__version__ = "0.1.0"

# The engine pulls in networkx and concurrent.futures: load it on first use, so that a
# tasks.py importing `task` stays cheap in every worker process.
_LAZY = {
    "build": "minimake.engine",
    "BuildInterrupted": "minimake.scheduler",
    "BuildResult": "minimake.result",
    "TaskResult": "minimake.result",
    "Status": "minimake.result",
    "Reason": "minimake.uptodate",
    "ReasonKind": "minimake.uptodate",
    "MinimakeError": "minimake.errors",
    "process_pool": "minimake.execution.pool",
    "ConsoleReporter": "minimake.view.ui",
    "NullReporter": "minimake.events",
    "load_tasks": "minimake.load",
}

if TYPE_CHECKING:
    from minimake.engine import build
    from minimake.errors import MinimakeError
    from minimake.events import NullReporter
    from minimake.execution.pool import process_pool
    from minimake.load import load_tasks
    from minimake.result import BuildResult, Status, TaskResult
    from minimake.scheduler import BuildInterrupted
    from minimake.uptodate import Reason, ReasonKind
    from minimake.view.ui import ConsoleReporter


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'minimake' has no attribute '{name}'")
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = [
    "BuildInterrupted",
    "BuildResult",
    "ConsoleReporter",
    "MinimakeError",
    "NullReporter",
    "Reason",
    "ReasonKind",
    "Status",
    "Task",
    "TaskResult",
    "__version__",
    "attempt",
    "build",
    "failed_deps",
    "load_tasks",
    "phony",
    "preload",
    "process_pool",
    "rerun_triggers",
    "task",
    "var",
]
