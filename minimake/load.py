"""Find and import a tasks file, returning the tasks it declares."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import traceback
from collections.abc import Mapping

from minimake.errors import MinimakeError, TasksFileError
from minimake.gcpause import paused
from minimake.task import Task, collecting, declared_triggers

# Per process: workers re-import the tasks file once and keep it (fork inherits the parent's),
# with what its rerun_triggers() call set.
_loaded: dict[
    tuple[str, tuple[tuple[str, str], ...]], tuple[tuple[Task, ...], tuple[str, ...] | None]
] = {}


def load_tasks(
    path: str | os.PathLike[str], variables: Mapping[str, str] | None = None
) -> list[Task]:
    """Import the tasks file at ``path`` with the command-line ``variables`` and return its tasks.

    Raises TasksFileError naming the file and line when the file is missing or fails to import.
    """
    source = os.path.abspath(os.fspath(path))
    key = (source, tuple(sorted((variables or {}).items())))
    if key not in _loaded:
        tasks, triggers = _import(source, variables or {})
        _loaded[key] = (tuple(tasks), triggers)
    return list(_loaded[key][0])


def load_triggers(
    path: str | os.PathLike[str], variables: Mapping[str, str] | None = None
) -> tuple[str, ...] | None:
    """What the tasks file's ``rerun_triggers()`` call set (None: it made none)."""
    load_tasks(path, variables)
    source = os.path.abspath(os.fspath(path))
    return _loaded[(source, tuple(sorted((variables or {}).items())))][1]


def _import(source: str, variables: Mapping[str, str]) -> tuple[list[Task], tuple[str, ...] | None]:
    if not os.path.isfile(source):
        raise TasksFileError(os.path.basename(source), "No such file or directory")
    # A unique module name per file, so two projects loaded in one process never collide,
    # and registered in sys.modules so pickling by reference, dataclasses and typing work.
    digest = hashlib.sha1(source.encode()).hexdigest()[:12]
    module_name = f"_minimake_tasks_{digest}"
    spec = importlib.util.spec_from_file_location(module_name, source)
    if spec is None or spec.loader is None:
        raise TasksFileError(os.path.basename(source), "cannot be imported")
    module = importlib.util.module_from_spec(spec)
    folder = os.path.dirname(source)
    added = folder not in sys.path
    if added:
        # Let tasks.py import helper modules that sit beside it.
        sys.path.insert(0, folder)
    sys.modules[module_name] = module
    try:
        with collecting(source, variables) as tasks, paused():
            spec.loader.exec_module(module)
            triggers = declared_triggers()
    except MinimakeError:
        raise
    except SyntaxError as error:
        raise TasksFileError(
            os.path.basename(error.filename or source), f"{error.msg}", error.lineno
        ) from error
    except BaseException as error:
        if isinstance(error, KeyboardInterrupt):
            raise
        raise _located(error, source) from error
    finally:
        if added:
            sys.path.remove(folder)
    return tasks, triggers


def _located(error: BaseException, source: str) -> TasksFileError:
    """Name the innermost line of the tasks file in the traceback."""
    line = None
    for frame in traceback.extract_tb(error.__traceback__):
        if os.path.abspath(frame.filename) == source:
            line = frame.lineno
    message = f"{type(error).__name__}: {error}"
    return TasksFileError(os.path.basename(source), message, line)
