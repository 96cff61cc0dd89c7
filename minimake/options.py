"""What one build is asked to do: make's flags and minimake's options, as one checked value."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

import attrs

from minimake.errors import UsageError
from minimake.resources import Limits
from minimake.resources import limits as resource_limits
from minimake.task import Task, check_timeout, check_triggers

if TYPE_CHECKING:
    from concurrent.futures import Executor

    from distributed import Client

EXECUTORS = ("process", "thread", "dask")


def _absolute(path: str | os.PathLike[str] | None) -> str | None:
    return None if path is None else os.path.abspath(os.fspath(path))


def _path(path: str | os.PathLike[str] | None) -> str | None:
    return None if path is None else os.fspath(path)


def _strings(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(values)


def _tasks(values: Iterable[Task]) -> tuple[Task, ...]:
    return tuple(values)


def _pairs(
    value: Mapping[str, str] | Iterable[tuple[str, str]] | None,
) -> tuple[tuple[str, str], ...]:
    return tuple(dict(value or {}).items())


def _limits(value: Mapping[str, object] | Iterable[tuple[str, object]] | None) -> Limits:
    # "auto" becomes this machine's GPUs here, once, before anything is loaded.
    return tuple(resource_limits(dict(value or {})).items())


def _triggers(value: Iterable[str] | str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    try:
        return check_triggers(value) or None
    except ValueError as error:
        raise UsageError(f"--rerun-triggers: {error}") from error


def _folder_or_flag(value: bool | str | os.PathLike[str]) -> bool | str:
    return value if isinstance(value, bool) else os.fspath(value)


@attrs.frozen
class Options:
    """One build's options, checked when made: the CLI makes one from its flags, ``build()``
    from its keywords (their meanings are documented there and in the README).

    The tasks are a tasks ``file`` (its folder is the build's root) or ``tasks`` given in code
    (then paths are relative to ``root``, default the current folder).
    """

    file: str | None = attrs.field(default=None, converter=_absolute)
    tasks: tuple[Task, ...] = attrs.field(default=(), converter=_tasks)
    root: str | None = attrs.field(default=None, converter=_path)
    goals: tuple[str, ...] = attrs.field(default=(), converter=_strings)
    jobs: int | None = attrs.field(default=None)
    dry_run: bool = False
    question: bool = False
    touch: bool = False
    always_make: bool = False
    keep_going: bool = False
    ignore_errors: bool = False
    silent: bool = False
    what_if: tuple[str, ...] = attrs.field(default=(), converter=_strings)
    old: tuple[str, ...] = attrs.field(default=(), converter=_strings)
    # NAME=value pairs in the order given (the recipes' environment): a tuple keeps it frozen.
    variables: tuple[tuple[str, str], ...] = attrs.field(default=(), converter=_pairs)
    # Per name a count, or the names of its units (--resource gpu=0,1).
    resources: Limits = attrs.field(default=(), converter=_limits)
    executor: str | Executor | Client | None = None
    scheduler: str | None = None
    scheduler_file: str | None = attrs.field(default=None, converter=_path)
    latency_wait: float | None = None
    # Seconds any recipe may run whose task sets no timeout of its own; None: no limit.
    timeout: float | None = attrs.field(default=None)
    # "process", "thread", "dask", or "instance" (an Executor of the caller's).
    executor_kind: str = attrs.field(init=False)
    rerun_triggers: tuple[str, ...] | None = attrs.field(default=None, converter=_triggers)
    timings: bool | str = attrs.field(default=False, converter=_folder_or_flag)
    trace: str | None = attrs.field(default=None, converter=_path)
    journal: bool = True
    # How many more times a failed recipe runs, for tasks that set no ``retries`` of their own.
    retries: int = attrs.field(default=0)
    # The build's folder: the tasks file's, else ``root``'s, made absolute when the options are.
    folder: str = attrs.field(init=False)

    @jobs.validator
    def _check_jobs(self, attribute: attrs.Attribute[int | None], value: int | None) -> None:
        if value is not None and value < 1:
            raise UsageError(f"'jobs' must be at least 1 (got {value})")

    @retries.validator
    def _check_retries(self, attribute: attrs.Attribute[int], value: int) -> None:
        if type(value) is not int or value < 0:
            raise UsageError(f"'retries' must be a whole number, 0 or more (got {value!r})")

    @resources.validator
    def _check_resources(self, attribute: attrs.Attribute[Limits], value: Limits) -> None:
        # Validators run once every field is set, executor_kind included.
        named = [name for name, limit in value if isinstance(limit, tuple)]
        if named and self.executor_kind == "dask":
            raise UsageError(
                f"Resources given as names ({', '.join(named)}) are for the local executors: "
                "on Dask a task's resources are worker resources (dask worker --resources "
                f'"{named[0]}=1"), and a worker\'s GPUs are its own to give.'
            )

    @timeout.validator
    def _check_timeout(self, attribute: attrs.Attribute[float | None], value: float | None) -> None:
        bad = check_timeout(value)
        if bad:
            raise UsageError(f"'timeout' {bad}")

    @executor_kind.default
    def _kind(self) -> str:
        return kind_of(self.executor, self.scheduler, self.scheduler_file)

    @folder.default
    def _folder(self) -> str:
        if self.file is not None:
            return os.path.dirname(self.file)
        return os.path.abspath(self.root or os.getcwd())

    @property
    def pretend(self) -> bool:
        """-n and -q: nothing changes; the journal is read, and no lock is taken."""
        return self.dry_run or self.question


def kind_of(executor: object, scheduler: str | None, scheduler_file: str | None) -> str:
    """ "process", "thread", "dask", or "instance" (an Executor of the caller's); raises
    UsageError for an unknown executor, or a Dask scheduler without the dask executor."""
    if isinstance(executor, str):
        if executor not in EXECUTORS:
            raise UsageError(f"Unknown executor '{executor}': choose process, thread or dask.")
        kind = executor
    elif executor is None:
        kind = "dask" if scheduler or scheduler_file else "process"
    else:  # a Dask Client or ClientExecutor, recognised without importing distributed
        kind = "dask" if type(executor).__module__.split(".")[0] == "distributed" else "instance"
    if scheduler and scheduler_file:
        raise UsageError("Give a Dask scheduler address or a scheduler file, not both.")
    if (scheduler or scheduler_file) and kind != "dask":
        raise UsageError(f"A Dask scheduler needs the dask executor (got '{kind}').")
    return kind
