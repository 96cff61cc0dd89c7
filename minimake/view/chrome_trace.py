"""A recorded Run in the Chrome Trace Event format, which Perfetto (ui.perfetto.dev) and
chrome://tracing open: a complete event per recipe on its lane's thread, and the concurrency
as counters."""

from __future__ import annotations

import json
import os
from typing import Any

from minimake.record import Run, Span
from minimake.view.timings import Step, concurrency, critical_path, lanes

_PID = 1


def _us(seconds: float) -> float:
    return round(seconds * 1_000_000, 1)


def trace_events(run: Run) -> dict[str, Any]:
    """The JSON-ready trace of ``run``: one "X" event per task that ran a recipe."""
    labels, lane_of = lanes(run)
    critical = set(critical_path(run))
    events = _lane_names(f"minimake {' '.join(run.goals)}".strip(), labels)
    events += [
        _span(span, lane_of[span.name], span.name in critical) for span in run.spans if span.ran
    ]
    events += [_counter(step) for step in concurrency(run)]
    return {
        "traceEvents": events,
        "displayTimeUnit": "ms",
        "otherData": {
            "goals": " ".join(run.goals),
            "jobs": run.jobs,
            "executor": run.executor,
            "began": run.began.isoformat(timespec="seconds"),
            "wall_seconds": round(run.seconds, 6),
            "interrupted": run.interrupted,
        },
    }


def _lane_names(process: str, labels: tuple[str, ...]) -> list[dict[str, Any]]:
    """Metadata events: the process's name, then each lane's name and place, as threads."""
    events: list[dict[str, Any]] = [
        {"name": "process_name", "ph": "M", "pid": _PID, "tid": 0, "args": {"name": process}}
    ]
    for index, label in enumerate(labels):
        tid = index + 1
        events.append(
            {"name": "thread_name", "ph": "M", "pid": _PID, "tid": tid, "args": {"name": label}}
        )
        events.append(
            {"name": "thread_sort_index", "ph": "M", "pid": _PID, "tid": tid,
             "args": {"sort_index": index}}
        )  # fmt: skip
    return events


def _span(span: Span, lane: int, critical: bool) -> dict[str, Any]:
    """A complete ("X") event for one recipe, with how it ended in its args."""
    args: dict[str, Any] = {"status": span.status.value, "reason": span.reason}
    optional = (
        ("returncode", span.returncode),
        ("signal", span.signal),
        ("error", span.error),
        ("worker", span.worker),
        ("waited_s", round(span.waited, 6) if span.waited else None),
    )
    args.update((key, value) for key, value in optional if value is not None)
    if span.held:
        args["held"] = {name: list(names) for name, names in span.held}
    if critical:
        args["critical_path"] = True
    return {
        "name": span.name,
        "cat": span.status.name.lower(),
        "ph": "X",
        "ts": _us(span.start),
        "dur": _us(span.seconds),
        "pid": _PID,
        "tid": lane + 1,
        "args": args,
    }


def _counter(step: Step) -> dict[str, Any]:
    """A counter ("C") event: how many recipes run and how many wait at one instant."""
    return {
        "name": "recipes",
        "ph": "C",
        "ts": _us(step.time),
        "pid": _PID,
        "args": {"running": step.running, "ready, waiting": step.waiting},
    }


def write_trace(run: Run, path: str | os.PathLike[str]) -> None:
    """Write ``run``'s trace to ``path`` (its folder is made when missing)."""
    folder = os.path.dirname(os.fspath(path))
    if folder:
        os.makedirs(folder, exist_ok=True)
    with open(path, "w", encoding="utf-8") as file:
        json.dump(trace_events(run), file, separators=(",", ":"))
