"""Task declarations: the frozen Task value, and task() / phony() / var() for tasks.py."""

from __future__ import annotations

import bisect
import inspect
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import CodeType, FrameType
from typing import Any, TypeAlias

import attrs

from minimake import resources as _resources
from minimake.errors import TaskDefinitionError

# A recipe is a shell command, a list of them (each line run on its own, through /bin/sh -c
# unless it is simple enough to exec directly), a Python callable, or none.
Recipe: TypeAlias = str | tuple[str, ...] | Callable[..., Any] | None

_PACKAGE_DIR = str(Path(__file__).resolve().parent)


def _names(value: str | Iterable[str]) -> tuple[str, ...]:
    """Accept one name or any iterable of names, so `deps="a.txt"` reads naturally; each path
    is normalised (`./a.txt` and `sub/../a.txt` are `a.txt`), so one file has one name."""
    names = _ready_names(value)
    if names is not None:
        return names
    if isinstance(value, (str, os.PathLike)):
        return (normal_path(os.fspath(value)),)
    if not isinstance(value, Iterable):
        return (value,)  # the validator names the bad value
    return tuple(normal_path(os.fspath(v) if isinstance(v, os.PathLike) else v) for v in value)


def _ready_names(value: Any) -> tuple[str, ...] | None:
    """``value`` as names when neither the converter nor the validator has work with it: one
    name, or a tuple or list of them, each a non-empty string that normal_path leaves as it
    is. None for anything else, which _names and the validator look at one by one."""
    # Without isinstance against the os.PathLike ABC and with one test of all the names at
    # once: a tasks.py that declares 100,000 tasks in a loop calls this twice per task.
    kind = type(value)
    if kind is str:
        names: tuple[str, ...] = (value,)
    elif kind is tuple or kind is list:
        names = tuple(value)
        for name in names:
            if type(name) is not str:
                return None
    else:
        return None
    return names if names and _tidy(names) else None


def _tidy(names: tuple[str, ...]) -> bool:
    """Whether every one of ``names`` is non-empty and normal_path would leave it as it is
    (one scan for all)."""
    joined = "\0" + "\0".join(names) + "\0"
    # "\0\0" finds an empty name; ".\0" finds "/." and "/.." at a name's end (and,
    # harmlessly, "file." too).
    return not (
        "\0\0" in joined or "./" in joined or "//" in joined or "/\0" in joined or ".\0" in joined
    )


def normal_path(name: Any) -> Any:
    """``name`` without `./`, `..` over a folder, doubled or trailing slashes (make drops a
    leading `./` too); anything else, an empty name included, is left for the validator."""
    if not isinstance(name, str) or not name:
        return name
    if "./" in name or "//" in name or name.endswith(("/", "/.", "/..")):  # cheap test first
        return os.path.normpath(name)
    return name


def _recipe(value: Any) -> Recipe:
    if isinstance(value, list):
        return tuple(value)
    return value  # type: ignore[no-any-return]


def _fail(task: Task, field: str, problem: str) -> None:
    raise TaskDefinitionError(task.name, field, problem, task.location)


def _check_names(task: Task, attribute: attrs.Attribute[Any], value: tuple[Any, ...]) -> None:
    for item in value:
        if not isinstance(item, str) or not item:
            _fail(task, attribute.name, f"must hold non-empty strings (got {item!r})")


def _check_targets(task: Task, attribute: attrs.Attribute[Any], value: tuple[Any, ...]) -> None:
    if not value:
        _fail(task, "targets", "must name at least one target")
    _check_names(task, attribute, value)


def _check_recipe(task: Task, attribute: attrs.Attribute[Any], value: Any) -> None:
    if type(value) is str:  # the common case, checked at once: the general test finds the same
        if not value.strip():
            _fail(task, "recipe", f"must not be empty (got {value!r}); leave it out instead")
        return
    if value is None or callable(value):
        return
    lines = (value,) if isinstance(value, str) else value
    if isinstance(lines, tuple) and all(isinstance(line, str) for line in lines):
        if not lines or not all(line.strip() for line in lines):
            _fail(task, "recipe", f"must not be empty (got {value!r}); leave it out instead")
        return
    _fail(task, "recipe", f"must be a command, a list of commands or a callable (got {value!r})")


def _check_arguments(task: Task, attribute: attrs.Attribute[Any], value: Any) -> None:
    # With no recipe yet, the decorator form brings the callable (graph.py checks it came).
    if value and task.recipe is not None and not callable(task.recipe):
        _fail(task, attribute.name, "is only for a Python callable recipe")
    if attribute.name == "kwargs":
        for key, _ in value:
            if not isinstance(key, str):
                _fail(task, "kwargs", f"keys must be strings (got {key!r})")


def _check_resources(task: Task, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, tuple):
        _fail(task, "resources", f"must map names to amounts, like {{'gpu': 1}} (got {value!r})")
    for name, amount in value:
        bad = _resources.problem(name, amount)
        if bad:
            _fail(task, "resources", bad)


def check_timeout(value: Any) -> str | None:
    """What is wrong with ``value`` as a time limit in seconds, or None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"must be a number of seconds (got {value!r})"
    if not value > 0 or value == float("inf"):
        return f"must be a positive number of seconds (got {value!r})"
    return None


def _check_timeout(task: Task, attribute: attrs.Attribute[Any], value: Any) -> None:
    bad = check_timeout(value)
    if bad:
        _fail(task, "timeout", bad)


def _check_console(task: Task, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not value:
        return
    if callable(task.recipe):
        # A Python recipe runs in a worker process, whose streams are not the terminal.
        _fail(task, "console", "is for shell recipes (a Python recipe runs in a worker process)")
    if task.timeout is not None:
        _fail(
            task,
            "timeout",
            "cannot limit a console task: it runs in minimake's own process group, where "
            "nothing could stop it alone",
        )


# What makes a task rerun: "mtime" (make's rule, always on), "recipe" (its signature changed)
# and "params" (a declared parameter changed since it last finished).
TRIGGERS = ("mtime", "recipe", "params")


def check_triggers(values: Iterable[str]) -> tuple[str, ...]:
    """``values`` as a tuple in canonical order; raises ValueError naming what is wrong."""
    if isinstance(values, str):
        values = values.split(",")
    given = {value.strip() for value in values if value.strip()}
    unknown = sorted(given - set(TRIGGERS))
    if unknown:
        raise ValueError(f"unknown rerun trigger '{unknown[0]}': choose from mtime, recipe, params")
    if given and "mtime" not in given:
        raise ValueError("'mtime' is always a rerun trigger; write 'mtime,recipe'")
    return tuple(t for t in TRIGGERS if t in given)


def _triggers(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return () if value is None else tuple(value)


def _params(value: Any) -> tuple[tuple[str, Any], ...]:
    # Flat, sorted pairs, so the Task stays a hashable, comparable value; nested mappings
    # become dotted names ({"model": {"alpha": 1}} is "model.alpha"), lists become tuples.
    if value is None:
        return ()
    if not isinstance(value, Mapping):
        return value  # type: ignore[no-any-return]  # the validator names the bad value
    return tuple(sorted(_flatten(value, "")))


def _flatten(mapping: Mapping[Any, Any], prefix: str) -> Iterator[tuple[str, Any]]:
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            yield from _flatten(value, name + ".")
        else:
            yield name, frozen(value)


def frozen(value: Any) -> Any:
    """A list as a tuple, all the way down ([[64, 64]] too): a Task stays hashable."""
    return tuple(frozen(item) for item in value) if isinstance(value, (list, tuple)) else value


_JSON_SCALARS = (str, int, float, bool, type(None))


def _json_value(value: Any) -> bool:
    if isinstance(value, tuple):
        return all(_json_value(item) for item in value)
    return isinstance(value, _JSON_SCALARS)


def _check_params(task: Task, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, tuple):
        _fail(
            task, "params", f"must map names to JSON values, like {{'alpha': 0.1}} (got {value!r})"
        )
    for name, item in value:
        if not _json_value(item):
            _fail(task, "params", f"'{name}' must be a JSON value (got {item!r})")


def _check_metrics(task: Task, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and (not isinstance(value, str) or not value):
        _fail(task, "metrics", f"must name a JSON file, like 'metrics.json' (got {value!r})")


def _check_retries(task: Task, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is None:
        return
    if type(value) is not int or value < 0:
        _fail(task, "retries", f"must be a whole number, 0 or more (got {value!r})")


def _check_triggers(task: Task, attribute: attrs.Attribute[Any], value: Any) -> None:
    try:
        check_triggers(value)
    except (ValueError, TypeError, AttributeError) as error:
        _fail(task, "rerun_triggers", str(error))


def _kwargs(
    value: Mapping[str, Any] | Iterable[tuple[str, Any]] | None,
) -> tuple[tuple[str, Any], ...]:
    # Kept as sorted pairs so the Task stays a hashable, comparable value.
    if value is None:
        return ()
    pairs = value.items() if isinstance(value, Mapping) else value
    return tuple(sorted(pairs, key=lambda kv: str(kv[0])))


@attrs.frozen
class Task:
    """One declaration: what it writes, what it needs, and how to make it.

    The first target names the task. ``deps`` and ``order_only`` name tasks (by any of their
    targets) or plain files; order-only deps are built first but their mtimes are never compared.
    """

    targets: tuple[str, ...] = attrs.field(converter=_names, validator=_check_targets)
    deps: tuple[str, ...] = attrs.field(default=(), converter=_names, validator=_check_names)
    order_only: tuple[str, ...] = attrs.field(default=(), converter=_names, validator=_check_names)
    recipe: Recipe = attrs.field(default=None, converter=_recipe, validator=_check_recipe)
    args: tuple[Any, ...] = attrs.field(default=(), converter=tuple, validator=_check_arguments)
    kwargs: tuple[tuple[str, Any], ...] = attrs.field(
        default=(), converter=_kwargs, validator=_check_arguments
    )
    phony: bool = False
    doc: str = ""
    default: bool = False
    # Named amounts the recipe holds while it runs, {"gpu": 1}: bounded by --resource locally
    # (which may name the units, and the recipe is told its own), worker resources on Dask.
    resources: _resources.Amounts = attrs.field(
        default=(), converter=_resources.amounts, validator=_check_resources
    )
    # What makes it rerun beside make's mtime rule, ("mtime", "recipe"); () takes the run's.
    rerun_triggers: tuple[str, ...] = attrs.field(
        default=(), converter=_triggers, validator=_check_triggers
    )
    # How many more times a failed recipe runs before the task counts as failed; None takes
    # the run's (--retries, default 0).
    retries: int | None = attrs.field(default=None, validator=_check_retries)
    # Runs once its deps have finished, whether they succeeded or not (under -k): a gather
    # that reports on what succeeded. Airflow's trigger_rule="all_done"; make has none.
    allow_failed_deps: bool = False
    # Seconds its recipe may run (all its lines); None: the run's --timeout, if any.
    timeout: float | None = attrs.field(default=None, validator=_check_timeout)
    # What the task is a trial of, {"alpha": 0.1} as sorted (name, value) pairs, nested names
    # dotted; recorded with each run (--results), and a rerun trigger ("params").
    params: tuple[tuple[str, Any], ...] = attrs.field(
        default=(), converter=_params, validator=_check_params
    )
    # A file (a target, or one the recipe writes) holding a JSON object whose numbers are the
    # task's metrics, read and recorded when it finishes (--results).
    metrics: str | None = attrs.field(
        default=None, converter=attrs.converters.optional(normal_path), validator=_check_metrics
    )
    # make's "@" on every line (".SILENT: target"): its commands are not echoed when it runs;
    # -n still prints them, as make prints "@" lines.
    silent: bool = False
    # make's .SECONDARY: while its targets are missing and every task that needs it is up to
    # date against its deps, it is not remade (minimake.intermediate).
    intermediate: bool = False
    # ninja's console pool: runs alone, with the terminal's stdin, stdout and stderr, its
    # output not captured, the live display paused meanwhile (a shell recipe that asks).
    console: bool = attrs.field(default=False, validator=_check_console)
    # "tasks.py:14", where the task was declared; None for tasks built in code without a file.
    location: str | None = attrs.field(default=None, eq=False)
    # The tasks file the task came from; workers re-import it to reach a Python recipe.
    source: str | None = attrs.field(default=None, eq=False)

    @property
    def name(self) -> str:
        """The task's name: its first target."""
        return self.targets[0] if self.targets else "?"

    @property
    def all_deps(self) -> tuple[str, ...]:
        """Its deps, then its order-only deps: everything built before it."""
        return self.deps + self.order_only

    @property
    def outputs(self) -> tuple[str, ...]:
        """The files the task writes: its targets, or none for a phony task."""
        return () if self.phony else self.targets

    @property
    def keyword_arguments(self) -> dict[str, Any]:
        """The callable recipe's keyword arguments as a dict."""
        return dict(self.kwargs)

    @classmethod
    def create(
        cls,
        targets: str | Iterable[str],
        deps: str | Iterable[str] = (),
        recipe: Any = None,
        *,
        order_only: str | Iterable[str] = (),
        args: Iterable[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        phony: bool = False,
        doc: str = "",
        default: bool = False,
        resources: Mapping[str, float] | None = None,
        rerun_triggers: Iterable[str] | None = None,
        retries: int | None = None,
        allow_failed_deps: bool = False,
        timeout: float | None = None,
        params: Mapping[str, Any] | None = None,
        metrics: str | None = None,
        silent: bool = False,
        intermediate: bool = False,
        console: bool = False,
    ) -> Task:
        """Build a Task in code, recording the caller's file and line for messages."""
        if not doc and callable(recipe):
            doc = inspect.getdoc(recipe) or ""
        location = _caller_location(sys._getframe(1))
        if _no_options(
            args,
            kwargs,
            resources,
            rerun_triggers,
            retries,
            allow_failed_deps,
            timeout,
            params,
            metrics,
            silent,
            intermediate,
            console,
        ):
            return _plain(targets, deps, order_only, recipe, phony, doc, default, location)
        return cls(
            targets=targets,
            deps=deps,
            order_only=order_only,
            recipe=recipe,
            args=args,
            kwargs=kwargs,
            phony=phony,
            doc=doc,
            default=default,
            resources=resources,
            rerun_triggers=rerun_triggers,
            retries=retries,
            allow_failed_deps=allow_failed_deps,
            timeout=timeout,
            params=params,
            metrics=metrics,
            silent=silent,
            intermediate=intermediate,
            console=console,
            location=location,
            source=_collector.source if _collector else None,
        )

    def __call__(self, function: Callable[..., Any]) -> Callable[..., Any]:
        """Decorator form: ``@task("out.json", deps=[...])`` makes the function the recipe."""
        if self.recipe is not None:
            _fail(self, "recipe", "is already set; the decorator form takes a task without one")
        doc = self.doc or inspect.getdoc(function) or ""
        declared = attrs.evolve(self, recipe=function, doc=doc)
        if _collector is not None:
            _collector.replace(self, declared)
        return function


_set = object.__setattr__  # how attrs itself sets the fields of a frozen class


def _no_options(
    args: Any,
    kwargs: Any,
    resources: Any,
    rerun_triggers: Any,
    retries: Any,
    allow_failed_deps: Any,
    timeout: Any,
    params: Any,
    metrics: Any,
    silent: Any,
    intermediate: Any,
    console: Any,
) -> bool:
    """Whether a declaration leaves out the options that _plain does not take."""
    return (
        type(args) is tuple
        and not args
        and kwargs is None
        and resources is None
        and rerun_triggers is None
        and retries is None
        and allow_failed_deps is False
        and timeout is None
        and params is None
        and metrics is None
        and not silent
        and not intermediate
        and not console
    )


def _plain(
    targets: Any,
    deps: Any,
    order_only: Any,
    recipe: Any,
    phony: bool,
    doc: str,
    default: bool,
    location: str | None,
) -> Task:
    """Task.create's common case, a task with no args, kwargs, resources or rerun triggers,
    without the attrs __init__: a 50,000-task loop spent 5 µs per task in it, half of that
    in converters and validators with nothing to convert or check.

    The same as ``Task(...)``: the same converters run on the four fields that vary, then
    their validators, in field order, but for names that _ready_names took, on which they
    provably pass; the other four fields take the converted value of nothing, (), on which
    their validators provably pass too (no args, no kwargs, no resources, no triggers).
    """
    declared: Task = object.__new__(Task)
    ready_targets, ready_deps = _ready_names(targets), _ready_names(deps)
    _set(declared, "targets", ready_targets if ready_targets is not None else _names(targets))
    _set(declared, "deps", ready_deps if ready_deps is not None else _names(deps))
    empty = type(order_only) is tuple and not order_only  # nearly every task
    _set(declared, "order_only", () if empty else _names(order_only))
    _set(declared, "recipe", _recipe(recipe))
    _set(declared, "args", ())
    _set(declared, "kwargs", ())
    _set(declared, "phony", phony)
    _set(declared, "doc", doc)
    _set(declared, "default", default)
    _set(declared, "resources", ())
    _set(declared, "rerun_triggers", ())
    _set(declared, "retries", None)
    _set(declared, "allow_failed_deps", False)
    _set(declared, "timeout", None)
    _set(declared, "params", ())
    _set(declared, "metrics", None)
    _set(declared, "silent", False)
    _set(declared, "intermediate", False)
    _set(declared, "console", False)
    _set(declared, "location", location)
    _set(declared, "source", _collector.source if _collector else None)
    if not attrs.validators.get_disabled():
        # Names _ready_names took are non-empty strings: their validators would pass.
        if ready_targets is None or phony:
            _check_targets(declared, _TARGETS, declared.targets)
        if ready_deps is None:
            _check_names(declared, _DEPS, declared.deps)
        _check_names(declared, _ORDER_ONLY, declared.order_only)
        _check_recipe(declared, _RECIPE, declared.recipe)
    return declared


# The attributes the validators are given (attrs.fields() looks each one up by a property).
_TARGETS, _DEPS, _ORDER_ONLY, _RECIPE = (
    getattr(attrs.fields(Task), name) for name in ("targets", "deps", "order_only", "recipe")
)


def _caller_location(frame: FrameType | None) -> str | None:
    """The first frame from ``frame`` outwards that is outside minimake, as "file:line"
    relative to the tasks folder."""
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame = frame.f_back
    if frame is None:
        return None
    lines = _code_lines(frame.f_code)
    location = lines.sites.get(frame.f_lasti)
    if location is None:
        location = lines.sites[frame.f_lasti] = f"{lines.shown}:{lines.line(frame)}"
    return location


class _CodeLines:
    """One code object's lines as task() sees them: the file name messages show, and the
    location ("tasks.py:12") of each call site (bytecode offset) met so far.

    A loop declares all its tasks from one call site: one look-up each. CPython 3.11 computes
    frame.f_lineno by scanning the code's whole line table, which made a 10,000-line tasks.py
    of explicit calls quadratic to load; past a few call sites the table is read once and
    bisected instead (not at the first: a 50,000-row table in a tasks.py is 350,000 ranges).
    """

    __slots__ = ("code", "lines", "shown", "sites", "source", "starts")

    def __init__(self, code: CodeType, source: str | None) -> None:
        self.code, self.source = code, source  # the code is kept so that its id stays unique
        shown = code.co_filename
        if source and os.path.dirname(shown) == os.path.dirname(source):
            shown = os.path.basename(shown)
        self.shown = shown
        self.sites: dict[int, str] = {}
        self.starts: list[int] | None = None
        self.lines: list[int | None] = []

    def line(self, frame: FrameType) -> int | None:
        if self.starts is None:
            if len(self.sites) < 8:
                return frame.f_lineno
            ranges = list(self.code.co_lines())
            self.starts = [start for start, _, _ in ranges]
            self.lines = [line for _, _, line in ranges]
        index = bisect.bisect_right(self.starts, frame.f_lasti) - 1
        found = self.lines[index] if index >= 0 else None
        return found if found is not None else frame.f_lineno


# Keyed by id(): hashing a code object hashes all its bytecode. The name shown depends on the
# tasks file being loaded, so an entry holds for one file.
_line_tables: dict[int, _CodeLines] = {}


def _code_lines(code: CodeType) -> _CodeLines:
    source = _collector.source if _collector is not None else None
    entry = _line_tables.get(id(code))
    if entry is not None and entry.code is code and entry.source == source:
        return entry
    if len(_line_tables) > 64:
        _line_tables.clear()
    entry = _line_tables[id(code)] = _CodeLines(code, source)
    return entry


@attrs.define
class _Collector:
    """The tasks declared while one tasks file is being imported."""

    source: str | None
    variables: Mapping[str, str]
    tasks: list[Task] = attrs.Factory(list)
    triggers: tuple[str, ...] | None = None  # rerun_triggers() called in the file
    preload: tuple[str, ...] = ()  # preload() called in the file
    # expand_after() generators declared in the file (minimake.rounds.Generator values)
    generators: list[Any] = attrs.Factory(list)

    def replace(self, old: Task, new: Task) -> None:
        for index in range(len(self.tasks) - 1, -1, -1):
            if self.tasks[index] is old:
                self.tasks[index] = new
                return
        self.tasks.append(new)


_collector: _Collector | None = None


@contextmanager
def collecting(source: str | None, variables: Mapping[str, str]) -> Iterator[list[Task]]:
    """Collect the tasks declared inside the block into a fresh list (safe to nest and repeat)."""
    global _collector
    previous, _collector = _collector, _Collector(source, dict(variables))
    try:
        yield _collector.tasks
    finally:
        _collector = previous


def declared_triggers() -> tuple[str, ...] | None:
    """What ``rerun_triggers()`` set in the tasks file being collected, if it was called."""
    return _collector.triggers if _collector is not None else None


def declared_preload() -> tuple[str, ...]:
    """The modules that ``preload()`` named in the tasks file being collected."""
    return _collector.preload if _collector is not None else ()


def declared_generators() -> list[Any]:
    """The expand_after() generators declared in the tasks file being collected."""
    return list(_collector.generators) if _collector is not None else []


def expand_after(
    *triggers: str, produces: str | Iterable[str] = (), name: str | None = None
) -> Callable[[Callable[..., Any]], Any]:
    """Decorator: the function declares more tasks (with ``task()``, ``phony()``, even
    ``expand_after()``) once every one of ``triggers`` is up to date, in minimake's own process,
    at most once per build. It is given the trigger paths as arguments if it takes any.

    ``produces`` names the targets its tasks will write that tasks declared before it may
    depend on (``dist/round2/best.json``): until it has run, they wait for it. Returns the
    generator, which a build in code takes among its tasks.
    """
    location = _caller_location(sys._getframe(1))
    source = _collector.source if _collector is not None else None

    def decorate(function: Callable[..., Any]) -> Any:
        from minimake.rounds import Generator  # the rounds only where a file has some

        generator = Generator(
            function=function,
            triggers=_names(triggers),
            produces=_names(produces) if produces else (),
            name=name or str(getattr(function, "__name__", "expand")),
            location=location,
            source=source,
        )
        if _collector is not None:
            _collector.generators.append(generator)
        return generator

    return decorate


def _declare(declared: Task) -> Task:
    """Add ``declared`` to the tasks file being loaded, if any."""
    if _collector is not None:
        _collector.tasks.append(declared)
    return declared


def task(
    targets: str | Iterable[str],
    deps: str | Iterable[str] = (),
    recipe: Any = None,
    *,
    order_only: str | Iterable[str] = (),
    args: Iterable[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
    doc: str = "",
    default: bool = False,
    resources: Mapping[str, float] | None = None,
    rerun_triggers: Iterable[str] | None = None,
    retries: int | None = None,
    allow_failed_deps: bool = False,
    timeout: float | None = None,
    params: Mapping[str, Any] | None = None,
    metrics: str | None = None,
    silent: bool = False,
    intermediate: bool = False,
    console: bool = False,
) -> Task:
    """Declare a task that writes ``targets`` (the first one names it).

    ``recipe`` is a shell command, a list of commands, or a callable called with ``args`` and
    ``kwargs``; it holds ``resources`` ({"gpu": 1}) while it runs. ``rerun_triggers``
    ("mtime,recipe") overrides the run's for this task. A failed recipe runs up to
    ``retries`` more times (default: the run's ``--retries``). ``timeout`` (seconds) stops the
    recipe, all its lines together, when it runs longer (SIGTERM to its process group, SIGKILL
    5 s later), and fails the task. With ``allow_failed_deps``, the task runs once its deps
    have finished even if some failed (under -k), and is told which
    (``minimake.failed_deps()``). ``params`` ({"alpha": 0.1}) and ``metrics`` (a JSON file of
    numbers the recipe writes) are recorded with each run, for ``--results``. ``silent``
    (make's ``@``) does not echo its commands when it runs; ``-n`` still prints them.
    ``intermediate`` (make's ``.SECONDARY``): while its targets are missing and the tasks that
    need it are up to date against its deps, it is not remade. A ``console`` task (ninja's
    console pool) runs alone with the terminal's stdin, stdout and stderr, uncaptured. Used
    bare as a decorator, the decorated function becomes the recipe.
    """
    # A command and no options, the task of a loop of 100,000, goes straight to _plain:
    # passing the options on to Task.create was a sixth of declaring it.
    plain = _no_options(
        args,
        kwargs,
        resources,
        rerun_triggers,
        retries,
        allow_failed_deps,
        timeout,
        params,
        metrics,
        silent,
        intermediate,
        console,
    )
    if plain and not callable(recipe):
        location = _caller_location(sys._getframe(1))
        return _declare(_plain(targets, deps, order_only, recipe, False, doc, default, location))
    return _declare(
        Task.create(
            targets,
            deps,
            recipe,
            order_only=order_only,
            args=args,
            kwargs=kwargs,
            doc=doc,
            default=default,
            resources=resources,
            rerun_triggers=rerun_triggers,
            retries=retries,
            allow_failed_deps=allow_failed_deps,
            timeout=timeout,
            params=params,
            metrics=metrics,
            silent=silent,
            intermediate=intermediate,
            console=console,
        )
    )


def phony(
    name: str | Iterable[str],
    deps: str | Iterable[str] = (),
    recipe: Any = None,
    *,
    order_only: str | Iterable[str] = (),
    args: Iterable[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
    doc: str = "",
    default: bool = False,
    resources: Mapping[str, float] | None = None,
    rerun_triggers: Iterable[str] | None = None,
    retries: int | None = None,
    allow_failed_deps: bool = False,
    timeout: float | None = None,
    silent: bool = False,
    console: bool = False,
) -> Task:
    """Declare a phony task: it names no file, always runs, and forces its dependents.

    Several names (make's grouped ``.PHONY: g1 g2`` with ``g1 g2 &:``) are one task: its recipe
    runs once for all of them, and the first names it.
    """
    return _declare(
        Task.create(
            name,
            deps,
            recipe,
            order_only=order_only,
            args=args,
            kwargs=kwargs,
            doc=doc,
            default=default,
            resources=resources,
            rerun_triggers=rerun_triggers,
            retries=retries,
            allow_failed_deps=allow_failed_deps,
            timeout=timeout,
            phony=True,
            silent=silent,
            console=console,
        )
    )


def rerun_triggers(*triggers: str) -> None:
    """In tasks.py: what makes every task of this file rerun, ``rerun_triggers("mtime",
    "recipe")`` (``--rerun-triggers`` on the command line wins, a task's own setting wins
    over both). "recipe" reruns a task whose recipe changed since it last finished, "params" one
    whose declared params changed."""
    if _collector is None:
        raise TaskDefinitionError("rerun_triggers", "rerun_triggers", "is for a tasks file")
    try:
        _collector.triggers = check_triggers(triggers)
    except ValueError as error:
        raise TaskDefinitionError("rerun_triggers", "rerun_triggers", str(error)) from error


def preload(*modules: str) -> None:
    """In tasks.py: modules that each process-pool worker imports as it starts, before its
    first recipe (whose time limit counts from then). A worker starts when a Python recipe finds
    no idle one, and serves recipe after recipe, so each module is imported once per worker; a
    module that fails to import is skipped there, and the recipe that imports it reports the
    error itself."""
    if _collector is None:
        raise TaskDefinitionError("preload", "preload", "is for a tasks file")
    for module in modules:
        if not isinstance(module, str) or not module:
            raise TaskDefinitionError("preload", "preload", f"expects module names, got {module!r}")
    _collector.preload = (*_collector.preload, *modules)


def var(
    name: str,
    default: Any = "",
    *,
    environment: bool = True,
    type: Callable[[str], Any] | None = None,
) -> Any:
    """A variable from the command line (``NAME=value``), else the environment, else ``default``.

    ``environment=False`` takes only the command line and the default, as make's ``NAME =
    value`` (a stray ``NAME`` in the environment is ignored). ``type`` converts the text
    (``int``, ``float``, ``bool``: 1/0, true/false, yes/no, on/off; ``list`` or ``tuple``: its
    words, split on white space); without it, a default that is no string gives the type
    (``var("N", 3)`` is an int). A default that is a string is converted by ``type`` too.
    """
    if _collector is not None and name in _collector.variables:
        text = _collector.variables[name]
    elif environment and name in os.environ:
        text = os.environ[name]
    elif type is not None and isinstance(default, str):
        text = default  # var("SIZES", "1 2", type=list): the default read as the command line
    else:
        return default
    kind = type if type is not None else (str if isinstance(default, str) else _kind(default))
    try:
        return _converted(text, kind)
    except ValueError as error:
        # Raised in the tasks file, which names its line: "tasks.py:3: ValueError: ...".
        problem = f"var {name!r}: cannot read {text!r} as {_kind_name(kind)}"
        raise ValueError(problem) from error


def _kind(default: Any) -> Callable[[str], Any]:
    return str if default is None else default.__class__


def _kind_name(kind: Callable[[str], Any]) -> str:
    return getattr(kind, "__name__", repr(kind))


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off", "")


def _converted(text: str, kind: Callable[[str], Any]) -> Any:
    if kind is str:
        return text
    if kind is bool:
        word = text.strip().lower()
        if word in _TRUE or word in _FALSE:
            return word in _TRUE
        raise ValueError(text)
    if kind is list or kind is tuple:
        return kind(text.split())
    return kind(text)


def describe_recipe(declared: Task) -> list[str]:
    """The recipe as make would echo it: shell lines as written, a callable as its call."""
    recipe = declared.recipe
    if recipe is None:
        return []
    if isinstance(recipe, str):
        return [recipe]
    if isinstance(recipe, tuple):
        return list(recipe)
    arguments = [repr(a) for a in declared.args]
    arguments += [f"{k}={v!r}" for k, v in declared.kwargs]
    return [f"{_callable_name(recipe)}({', '.join(arguments)})"]


def _callable_name(function: Callable[..., Any]) -> str:
    inner = getattr(function, "func", None)  # functools.partial shows what it wraps
    if inner is not None and callable(inner):
        return f"partial({_callable_name(inner)})"
    return getattr(function, "__qualname__", None) or repr(function)
