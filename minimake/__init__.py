"""minimake: a make-compatible DAG task runner for Python, with a process pool.

Declare tasks in a tasks.py with ``task`` and ``phony``; run ``minimake -j4 all``; or call
``minimake.build(...)`` from Python.
"""

from __future__ import annotations

import os as _os
import signal as _signal
import sys as _sys
from typing import TYPE_CHECKING, Any

# The minimake command is starting (`python -m minimake`, whose package Python imports with
# argv[0] "-m", or the `minimake` script): until main() takes over the signals, nothing has
# started that needs cleaning up, so Ctrl-C ends the process by the signal, as it ends make,
# not with a traceback from the middle of an import.
if _sys.argv[:1] == ["-m"] or _os.path.basename(_sys.argv[0] if _sys.argv else "") == "minimake":
    _signal.signal(_signal.SIGINT, _signal.SIG_DFL)

from minimake.recipe_env import attempt, failed_deps
from minimake.task import Task, expand_after, phony, preload, rerun_triggers, task, var

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
    "expand_after",
    "failed_deps",
    "load_tasks",
    "phony",
    "preload",
    "process_pool",
    "rerun_triggers",
    "task",
    "var",
]
