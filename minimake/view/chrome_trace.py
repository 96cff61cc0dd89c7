"""A recorded Run in the Chrome Trace Event format, which Perfetto (ui.perfetto.dev) and
chrome://tracing open: a complete event per recipe on its lane's thread, and the concurrency
as counters."""

from __future__ import annotations

import json
import os
from typing import Any

from minimake.view.timings import Run, concurrency, critical_path, lanes

_PID = 1


def _us(seconds: float) -> float:
    return round(seconds * 1_000_000, 1)


def trace_events(run: Run) -> dict[str, Any]:
    """The JSON-ready trace of ``run``: one "X" event per task that ran a recipe."""
    labels, lane_of = lanes(run)
    critical = set(critical_path(run))
    name = f"minimake {' '.join(run.goals)}".strip()
    events: list[dict[str, Any]] = [
        {"name": "process_name", "ph": "M", "pid": _PID, "tid": 0, "args": {"name": name}}
    ]
    for index, label in enumerate(labels):
        events.append(
            {
                "name": "thread_name",
                "ph": "M",
                "pid": _PID,
                "tid": index + 1,
                "args": {"name": label},
            }
        )
        events.append(
            {"name": "thread_sort_index", "ph": "M", "pid": _PID, "tid": index + 1,
             "args": {"sort_index": index}}
        )  # fmt: skip
    for span in run.spans:
        if not span.ran:
            continue
        args: dict[str, Any] = {"status": span.status.value, "reason": span.reason}
        args.update(
            (key, value)
            for key, value in (
                ("returncode", span.returncode),
                ("signal", span.signal),
                ("error", span.error),
                ("worker", span.worker),
                ("waited_s", round(span.waited, 6) if span.waited else None),
            )
            if value is not None
        )
        if span.name in critical:
            args["critical_path"] = True
        events.append(
            {
                "name": span.name,
                "cat": span.status.name.lower(),
                "ph": "X",
                "ts": _us(span.start),
                "dur": _us(span.seconds),
                "pid": _PID,
                "tid": lane_of[span.name] + 1,
                "args": args,
            }
        )
    for step in concurrency(run):
        events.append(
            {
                "name": "recipes",
                "ph": "C",
                "ts": _us(step.time),
                "pid": _PID,
                "args": {"running": step.running, "ready, waiting": step.waiting},
            }
        )
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


def write_trace(run: Run, path: str | os.PathLike[str]) -> None:
    """Write ``run``'s trace to ``path`` (its folder is made when missing)."""
    folder = os.path.dirname(os.fspath(path))
    if folder:
        os.makedirs(folder, exist_ok=True)
    with open(path, "w", encoding="utf-8") as file:
        json.dump(trace_events(run), file, separators=(",", ":"))
