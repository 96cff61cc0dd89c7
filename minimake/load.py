"""Find and import a tasks file, returning the tasks it declares."""

from __future__ import annotations

import contextlib
import hashlib
import importlib.machinery
import importlib.util
import os
import sys
import traceback
from collections.abc import Iterator, Mapping
from typing import Any

import attrs

from minimake.errors import MinimakeError, TasksFileError
from minimake.gcpause import paused
from minimake.task import (
    Task,
    collecting,
    declared_generators,
    declared_preload,
    declared_triggers,
)


@attrs.frozen
class _File:
    """One imported tasks file: its tasks and what its file-wide calls set."""

    tasks: tuple[Task, ...]
    triggers: tuple[str, ...] | None  # rerun_triggers(); None: not called
    preload: tuple[str, ...]  # preload()
    generators: tuple[Any, ...] = ()  # expand_after() (minimake.rounds.Generator values)


# Per process: workers re-import the tasks file once and keep it (fork inherits the parent's).
_loaded: dict[tuple[str, tuple[tuple[str, str], ...]], _File] = {}


def load_tasks(
    path: str | os.PathLike[str], variables: Mapping[str, str] | None = None
) -> list[Task]:
    """Import the tasks file at ``path`` with the command-line ``variables`` and return its tasks.

    Raises TasksFileError naming the file and line when the file is missing or fails to import.
    """
    return list(_file(path, variables).tasks)


def load_triggers(
    path: str | os.PathLike[str], variables: Mapping[str, str] | None = None
) -> tuple[str, ...] | None:
    """What the tasks file's ``rerun_triggers()`` call set (None: it made none)."""
    return _file(path, variables).triggers


def load_preload(
    path: str | os.PathLike[str], variables: Mapping[str, str] | None = None
) -> tuple[str, ...]:
    """The modules the tasks file's ``preload()`` calls named."""
    return _file(path, variables).preload


def load_generators(
    path: str | os.PathLike[str], variables: Mapping[str, str] | None = None
) -> tuple[Any, ...]:
    """The tasks file's ``expand_after`` generators, in declaration order."""
    return _file(path, variables).generators


def _file(path: str | os.PathLike[str], variables: Mapping[str, str] | None) -> _File:
    source = os.path.abspath(os.fspath(path))
    key = (source, tuple(sorted((variables or {}).items())))
    if key not in _loaded:
        _loaded[key] = _import(source, variables or {})
    return _loaded[key]


def _import(source: str, variables: Mapping[str, str]) -> _File:
    if not os.path.exists(source) or os.path.isdir(source):
        problem = "Is a directory" if os.path.isdir(source) else "No such file or directory"
        raise TasksFileError(os.path.basename(source), problem)
    # A unique module name per file, so two projects loaded in one process never collide,
    # and registered in sys.modules so pickling by reference, dataclasses and typing work.
    digest = hashlib.sha1(source.encode()).hexdigest()[:12]
    module_name = f"_minimake_tasks_{digest}"
    # Read as Python whatever its name ends with: make reads `-f /dev/null` as an empty file.
    loader = importlib.machinery.SourceFileLoader(module_name, source)
    spec = importlib.util.spec_from_file_location(module_name, source, loader=loader)
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
        with collecting(source, variables) as tasks, paused(), _inside(folder):
            spec.loader.exec_module(module)
            loaded = _File(
                tuple(tasks),
                declared_triggers(),
                declared_preload(),
                tuple(declared_generators()),
            )
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
    return loaded


@contextlib.contextmanager
def _inside(folder: str) -> Iterator[None]:
    """With ``folder`` as the working directory: tasks.py's module-level code (a
    ``glob("data/*")``) sees paths as its declarations do, relative to its own folder, from
    wherever minimake was started (``-f ../tasks.py``)."""
    try:
        before: str | None = os.getcwd()
    except OSError:  # started in a folder since removed
        before = None
    if before == folder:
        yield
        return
    os.chdir(folder)
    try:
        yield
    finally:
        if before is not None:
            os.chdir(before)


def _located(error: BaseException, source: str) -> TasksFileError:
    """Name the innermost line of the tasks file in the traceback."""
    line = None
    for frame in traceback.extract_tb(error.__traceback__):
        if os.path.abspath(frame.filename) == source:
            line = frame.lineno
    message = f"{type(error).__name__}: {error}"
    return TasksFileError(os.path.basename(source), message, line)
