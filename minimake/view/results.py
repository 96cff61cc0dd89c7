"""``--results`` as people and machines read it: a rich table, tab-separated lines, JSON."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from rich.table import Table

from minimake.results import Row, State


def cell(value: Any) -> str:
    """A param's or metric's value in a cell: numbers shortly, anything else as JSON."""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, str):
        return value
    return json.dumps(list(value) if isinstance(value, tuple) else value)


def when(ended: float | None) -> str:
    """An end time as local time to the second ("2026-12-06 00:20:13")."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ended)) if ended else ""


def duration(seconds: float | None) -> str:
    return f"{seconds:.2f}s" if seconds is not None else ""


def _cells(row: Row, params: Sequence[str], metrics: Sequence[str]) -> list[str]:
    given, scored = dict(row.params), dict(row.metrics)
    cells = [row.name, row.state]
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


_STYLES = {State.FAILED: "red", State.STALE: "yellow", State.GONE: "dim", State.NEVER_RUN: "dim"}


def rich_table(rows: Sequence[Row], params: Sequence[str], metrics: Sequence[str]) -> Table:
    """The table on a terminal: numbers right-aligned, failed rows red, warnings under a row."""
    table = Table(show_edge=False, pad_edge=False, header_style="bold")
    for name in _header(params, metrics):
        numeric = name in metrics or name == "duration"
        table.add_column(name, justify="right" if numeric else "left", overflow="fold")
    for row in rows:
        table.add_row(*_cells(row, params, metrics), style=_STYLES.get(row.state))
        if row.warning:
            table.add_row("", f"[yellow]warning: {row.warning}[/]", end_section=False)
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
                    "state": row.state.replace(" ", "_"),
                    "params": {name: _json(value) for name, value in row.params},
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


def _json(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value
