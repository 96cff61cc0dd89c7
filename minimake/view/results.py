"""``--results`` as people and machines read it: a rich table, tab-separated lines, JSON."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from typing import Any

from rich.table import Table
from rich.text import Text

from minimake.results import Row, State


def cell(value: Any) -> str:
    """A param's or metric's value in a cell: numbers shortly, anything else as JSON."""
    kind = type(value)
    if kind is float:
        return f"{value:.6g}"
    if kind is str:
        return value  # type: ignore[no-any-return]
    if kind is int:
        return str(value)
    return json.dumps(value)  # a tuple is a JSON list


def when(ended: float | None) -> str:
    """An end time as local time to the second ("2026-12-06 00:20:13")."""
    if not ended:
        return ""
    second = int(ended)
    shown = _WHEN.get(second)
    if shown is None:  # a sweep's trials end in few distinct seconds: format each once
        shown = _WHEN[second] = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
    return shown


_WHEN: dict[int, str] = {}


def duration(seconds: float | None) -> str:
    return f"{seconds:.2f}s" if seconds is not None else ""


def _cells(row: Row, params: Sequence[str], metrics: Sequence[str]) -> list[str]:
    given, scored = dict(row.params), dict(row.metrics)
    cells = [row.name, row.state.label]
    cells += [cell(given[name]) if name in given else "" for name in params]
    cells += [cell(scored[name]) if name in scored else "" for name in metrics]
    return [*cells, duration(row.seconds), when(row.ended)]


def _header(params: Sequence[str], metrics: Sequence[str]) -> list[str]:
    return ["task", "state", *params, *metrics, "duration", "ended"]


def tab_lines(rows: Sequence[Row], params: Sequence[str], metrics: Sequence[str]) -> list[str]:
    """The table off a terminal: a header and one tab-separated line per row; a warning, when
    a row has one, in a last "note" column."""
    notes = any(row.warning for row in rows)
    header = _header(params, metrics) + (["note"] if notes else [])
    lines = ["\t".join(header)]
    for row in rows:
        cells = _cells(row, params, metrics) + ([row.warning or ""] if notes else [])
        lines.append("\t".join(text.replace("\t", " ") for text in cells))
    return lines


_STYLES = {
    State.FAILED: "red",
    State.INTERRUPTED: "red",
    State.STALE: "yellow",
    State.RUNNING: "cyan",
    State.GONE: "dim",
    State.NEVER_RUN: "dim",
}


def common_parts(names: Sequence[str]) -> tuple[str, str]:
    """The folder all of ``names`` start in and the path all of them end with, when there are
    several names (``dist/trained/`` and ``/metrics.json`` of a sweep's trials)."""
    if len(names) < 2:
        return "", ""
    # By character on purpose: each is cut back to a '/' below.
    prefix = os.path.commonprefix(list(names))  # noqa: RUF071
    prefix = prefix[: prefix.rfind("/") + 1]
    rest = [name[len(prefix) :] for name in names]
    suffix = os.path.commonprefix([name[::-1] for name in rest])[::-1]  # noqa: RUF071
    suffix = suffix[suffix.find("/") :] if "/" in suffix else ""
    if any(len(name) <= len(suffix) for name in rest):
        suffix = ""
    return prefix, suffix


def rich_table(rows: Sequence[Row], params: Sequence[str], metrics: Sequence[str]) -> Table:
    """The table on a terminal: the tasks without the folder and file name they share,
    numbers right-aligned, failed rows red, a warning in a last "note" column."""
    prefix, suffix = common_parts([row.name for row in rows])
    caption = f"task: {prefix}<task>{suffix}" if prefix or suffix else None
    table = Table(show_edge=False, pad_edge=False, header_style="bold", caption=caption)
    notes = any(row.warning for row in rows)
    today = time.strftime("%Y-%m-%d")
    shown = [row.name[len(prefix) : len(row.name) - len(suffix)] for row in rows]
    # A narrow terminal shortens the values (ellipsis), never the task and its state.
    states = max((len(row.state.label) for row in rows), default=5)
    least = {"task": min(max(map(len, shown), default=4), 24), "state": states}
    for name in _header(params, metrics) + (["note"] if notes else []):
        numeric = name in metrics or name == "duration"
        table.add_column(
            name,
            justify="right" if numeric else "left",
            no_wrap=name != "task",
            min_width=least.get(name),
        )
    for row, name in zip(rows, shown, strict=True):
        cells = _cells(row, params, metrics)
        cells[0] = name
        cells[-1] = cells[-1].removeprefix(today).strip()  # today's runs: the time alone
        shown_cells = [Text(text) for text in cells]  # a name may hold "[": never markup
        if notes:
            shown_cells.append(Text(row.warning or "", style="yellow"))
        table.add_row(*shown_cells, style=_STYLES.get(row.state))
    return table


def to_json(rows: Sequence[Row], params: Sequence[str], metrics: Sequence[str]) -> str:
    """``--results --json``: every row with all its params and metrics (not only the changed
    ones; ``columns`` says which the table shows)."""
    return json.dumps(
        {
            "columns": {"params": list(params), "metrics": list(metrics)},
            "rows": [
                {
                    "task": row.name,
                    "state": row.state.value,
                    "params": dict(row.params),
                    "metrics": dict(row.metrics),
                    "seconds": row.seconds,
                    "ended": row.ended,
                    "warning": row.warning,
                }
                for row in rows
            ],
        },
        indent=2,
    )
