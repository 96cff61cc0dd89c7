"""What a trial left: the frozen record of one finished task's params and metrics, and the pure
readings of it (the metrics file, what changed in the params, the rows of ``--results``)."""

from __future__ import annotations

import enum
import json
import math
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import attrs

from minimake.task import Task, frozen

if TYPE_CHECKING:
    from minimake.journal import Marker

# The words a recorded run's status is kept as in the journal.
SUCCEEDED, FAILED, INTERRUPTED = "succeeded", "failed", "interrupted"
_UNSETTLED = {FAILED: "failed", INTERRUPTED: "was interrupted"}
# Metric names in which a higher value is better: --sort puts them highest first.
_SCORE_WORDS = ("score", "acc", "auc", "f1", "precision", "recall", "r2", "map", "ndcg", "iou")
SHOWN = 24  # at most this many characters of a parameter's value in a reason


@attrs.frozen
class Trial:
    """One task's newest finished run, as the journal keeps it: what it was declared with,
    what its metrics file said, and how the run ended."""

    name: str
    status: str  # SUCCEEDED, FAILED or INTERRUPTED (a signal stopped the build)
    seconds: float | None
    ended: float  # seconds since the epoch
    params: tuple[tuple[str, Any], ...] = ()
    metrics: tuple[tuple[str, float], ...] = ()
    warning: str | None = None  # why no metrics were read, when some were declared

    @property
    def failed(self) -> bool:
        return self.status == FAILED

    @property
    def unsettled(self) -> str | None:
        """How the run ended when it did not succeed ("failed", "was interrupted"), else None."""
        return None if self.status == SUCCEEDED else _UNSETTLED.get(self.status, self.status)

    def dumps(self) -> str:
        """One line of JSON (no tab, no newline), for the journal."""
        record = {
            "status": self.status,
            "seconds": self.seconds,
            "ended": self.ended,
            "params": dict(self.params),
            "metrics": dict(self.metrics),
        }
        if self.warning:
            record["warning"] = self.warning
        return json.dumps(record, separators=(",", ":"))

    @classmethod
    def loads(cls, name: str, text: str) -> Trial | None:
        """The trial ``dumps`` wrote; None for a damaged record."""
        try:
            record = json.loads(text)
            metrics = record["metrics"]
            if not all(finite_number(value) for value in metrics.values()):
                return None
            return cls(
                name,
                str(record["status"]),
                record["seconds"],
                float(record["ended"]),
                _pairs(record["params"]),
                tuple(metrics.items()),  # dumps wrote them sorted
                record.get("warning"),
            )
        except (ValueError, TypeError, KeyError, AttributeError):
            return None


def _pairs(params: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    # JSON gives lists back; the declaration keeps tuples, and the two must compare equal.
    # dumps wrote the names sorted; read per record, so the common case is one pass.
    pairs = tuple(params.items())
    for _, value in pairs:
        if type(value) is list:
            return tuple((key, frozen(v)) for key, v in pairs)
    return pairs


def wants_record(task: Task) -> bool:
    """Whether finishing ``task`` records a trial: it declares params or metrics."""
    return bool(task.params) or task.metrics is not None


def read_metrics(
    path: str, shown: str | None = None
) -> tuple[tuple[tuple[str, float], ...], str | None]:
    """The numbers of the JSON object in ``path`` (its top level: a file that also holds the
    configuration keeps it out), sorted by name, and a warning for people, naming the file as
    ``shown``, when there are none; never raises."""
    name = path if shown is None else shown
    try:
        with open(path, encoding="utf-8") as file:
            data = json.load(file)
    except FileNotFoundError:
        return (), f"metrics file '{name}' does not exist"
    except (OSError, ValueError) as error:
        problem = getattr(error, "strerror", None) or "not JSON"
        return (), f"metrics file '{name}': {problem}"
    if not isinstance(data, dict):
        return (), f"metrics file '{name}' holds no JSON object"
    numbers = [(str(key), value) for key, value in data.items() if finite_number(value)]
    return tuple(sorted(numbers)), None


def finite_number(value: Any) -> bool:
    """Whether ``value`` is a number a metric may hold: finite, and not a bool."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def finished_trial(
    task: Task, ok: bool, seconds: float | None, ended: float, root: str = ""
) -> Trial:
    """The trial a finished ``task`` leaves: its metrics are read only when it succeeded (a
    failed recipe's file is deleted, or left from an older run)."""
    metrics: tuple[tuple[str, float], ...] = ()
    warning = None
    if ok and task.metrics is not None:
        metrics, warning = read_metrics(os.path.join(root, task.metrics), task.metrics)
    return Trial(
        task.name,
        SUCCEEDED if ok else FAILED,
        seconds,
        ended,
        task.params,
        metrics,
        warning,
    )


def stopped_trial(task: Task, seconds: float, ended: float) -> Trial:
    """The trial of a recipe that a signal stopped (its changes deleted): no metrics."""
    return Trial(task.name, INTERRUPTED, seconds, ended, task.params)


def _shown(value: Any) -> str:
    text = json.dumps(value)  # a tuple is a JSON list
    return text if len(text) <= SHOWN else text[: SHOWN - 3] + "..."


def params_changed(
    recorded: Iterable[tuple[str, Any]], declared: Iterable[tuple[str, Any]]
) -> str | None:
    """What differs between the params a task last finished with and its declared ones, for
    people ("params: alpha 0.001 -> 0.01"); None when they are the same."""
    old, new = dict(recorded), dict(declared)
    changes = []
    for name in sorted(old.keys() | new.keys()):
        if name not in new:
            changes.append(f"{name} {_shown(old[name])} removed")
        elif name not in old:
            changes.append(f"{name} added ({_shown(new[name])})")
        elif _comparable(old[name]) != _comparable(new[name]):
            changes.append(f"{name} {_shown(old[name])} -> {_shown(new[name])}")
    if not changes:
        return None
    more = f" (and {len(changes) - 3} more)" if len(changes) > 3 else ""
    return "params: " + ", ".join(changes[:3]) + more


def _comparable(value: Any) -> str:
    # 1 and 1.0 and True differ as JSON does (a trial's id hashes the JSON form).
    return json.dumps(value)


def higher_is_better(metric: str) -> bool:
    """Whether ``metric`` reads as a score (higher first) rather than a loss, error or time."""
    lowered = metric.lower()
    return any(word in lowered for word in _SCORE_WORDS)


class State(enum.Enum):
    """A row's state now; the value is the word ``--json`` gives."""

    UP_TO_DATE = "up_to_date"
    STALE = "stale"
    FAILED = "failed"  # its last run failed
    NEVER_RUN = "never_run"
    RUNNING = "running"  # the build in progress runs it now
    INTERRUPTED = "interrupted"  # its last run was stopped (Ctrl-C, kill -9) before it ended
    GONE = "not_declared"  # recorded, no longer in tasks.py (--results=all)

    @property
    def label(self) -> str:
        """The state in words for people: "up to date", "failed last run"."""
        return _LABELS.get(self, self.value.replace("_", " "))


_LABELS = {State.FAILED: "failed last run", State.INTERRUPTED: "interrupted last run"}


@attrs.frozen
class Row:
    """One line of ``--results``: a task with params or metrics, and its newest run if any."""

    name: str
    state: State
    params: tuple[tuple[str, Any], ...]
    metrics: tuple[tuple[str, float], ...] = ()
    seconds: float | None = None
    ended: float | None = None
    warning: str | None = None


def row(
    name: str,
    stale: bool | None,
    declared: Task | None,
    trial: Trial | None,
    started: Marker | None = None,
) -> Row:
    """The row of task ``name``: ``stale`` is the dry run's verdict (None: not declared);
    ``started``: the journal's marker of a run of it that has not ended (running now, or
    stopped): the row has its declared params, and no metrics, which that run has not given."""
    if started is not None and declared is not None:
        return Row(name, State.RUNNING if started.live else State.INTERRUPTED, declared.params)
    if trial is None:
        params = declared.params if declared is not None else ()
        state = State.NEVER_RUN if stale or declared is None else State.UP_TO_DATE
        return Row(name, state, params)
    if stale is None:
        state = State.GONE
    elif trial.failed:
        state = State.FAILED
    elif trial.status == INTERRUPTED:
        state = State.INTERRUPTED
    else:
        state = State.STALE if stale else State.UP_TO_DATE
    # The params it ran with, so that they go with its metrics (the declaration may differ).
    return Row(name, state, trial.params, trial.metrics, trial.seconds, trial.ended, trial.warning)


def order(rows: Iterable[Row], key: str | None) -> list[Row]:
    """Declared rows before the others, then by ``key`` (a metric or param: highest first for
    a score or a leading '-', lowest first for anything else or a leading '+'), else newest
    first; rows without the key go last."""
    rows = list(rows)
    rows.sort(key=lambda one: -(one.ended or 0.0))
    if key:
        name, descending = sort_key(key)
        present = [one for one in rows if _value(one, name) is not None]
        absent = [one for one in rows if _value(one, name) is None]
        present.sort(key=lambda one: _value(one, name) or (1, ""), reverse=descending)
        rows = present + absent
    rows.sort(key=lambda one: one.state == State.GONE)  # stable: keeps the order within
    return rows


def sort_key(key: str) -> tuple[str, bool]:
    """The name ``--sort`` names and whether it sorts highest first."""
    if key[:1] in "+-":
        return key[1:], key[0] == "-"
    return key, higher_is_better(key)


def _value(one: Row, name: str) -> tuple[int, float | str] | None:
    """What ``name`` sorts ``one`` by: numbers before text, so that mixed values compare."""
    found = dict(one.metrics).get(name)
    if found is None:
        found = dict(one.params).get(name)
    if found is None:
        return None
    if isinstance(found, (int, float)) and not isinstance(found, bool):
        return (0, found)
    return (1, _comparable(found))


def columns(rows: Iterable[Row], only_changed: bool = True) -> tuple[list[str], list[str]]:
    """The param and metric names of ``rows``, sorted; with ``only_changed`` (dvc's
    --only-changed), a param with the same value in every row that has it is left out (unless
    there is a single row)."""
    rows = list(rows)
    # Per param: a value it has (by type too: 1, 1.0 and True differ) and how many rows have
    # it, None once two rows differ. One pass: 10,000 rows are a few milliseconds.
    seen: dict[str, tuple[type, Any] | None] = {}
    counts: dict[str, int] = {}
    metrics: set[str] = set()
    for one in rows:
        for name, value in one.params:
            key = (type(value), value)
            counts[name] = counts.get(name, 0) + 1
            if name not in seen:
                seen[name] = key
            elif seen[name] is not None and seen[name] != key:
                seen[name] = None
        metrics.update(name for name, _ in one.metrics)
    params = sorted(seen)
    if only_changed and len(rows) > 1:
        params = [name for name in params if seen[name] is None or counts[name] < len(rows)]
    return params, sorted(metrics)
