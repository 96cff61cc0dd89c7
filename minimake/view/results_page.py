"""The results page: ``--results`` as one self-contained HTML file (inline SVG and CSS, nothing
fetched), with a chart per numeric param of the chosen metric against it, one point per trial,
so the shape of the search shows at a glance."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

from minimake.results import Row, State, finite_number, sort_key
from minimake.view.page import definitions, document, escape, table
from minimake.view.results import cell, duration, when

WIDTH, HEIGHT = 360, 230  # one chart's coordinates; it scales to its column
LEFT, RIGHT, TOP, BOTTOM = 52, 12, 12, 38  # room for the axes' labels
BASE = HEIGHT - BOTTOM  # the x axis
LOG_SPAN = 100  # a param whose positive values span this factor or more gets a log axis


# A row's look in the table: failed and stopped runs red, undeclared tasks dimmed.
_KINDS = {
    State.FAILED: " class=failed",
    State.INTERRUPTED: " class=failed",
    State.GONE: " class=gone",
}


def save(
    path: str, rows: Sequence[Row], params: Sequence[str], metrics: Sequence[str], key: str | None
) -> str:
    """Write the page to ``path`` (its folder made); returns the path."""
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    with open(path, "w", encoding="utf-8") as file:
        file.write(page(rows, params, metrics, key))
    return path


def charted(metrics: Sequence[str], key: str | None) -> str | None:
    """The metric the charts show: --sort's when it names one, else the first."""
    if key and sort_key(key)[0] in metrics:
        return sort_key(key)[0]
    return metrics[0] if metrics else None


def page(
    rows: Sequence[Row], params: Sequence[str], metrics: Sequence[str], key: str | None
) -> str:
    """The whole page."""
    metric = charted(metrics, key)
    failed = sum(1 for row in rows if row.state == State.FAILED)
    stopped = sum(1 for row in rows if row.state == State.INTERRUPTED)
    ended = f"{failed} failed last run" + (f", {stopped} interrupted" if stopped else "")
    body = [
        "<h1>minimake results</h1>",
        definitions(
            [
                ("Tasks", f"{len(rows)} ({ended})"),
                ("Charted", metric or "no metric recorded"),
                ("Sorted by", key or "newest first"),
            ]
        ),
    ]
    numeric = [name for name in _all_params(rows) if _numeric(rows, name)]
    if metric and numeric:
        body += [
            f"<h2>{escape(metric)} against each numeric param</h2>",
            '<p class="note">One point per trial; a red cross at the bottom is a trial that '
            "failed or recorded no such metric.</p>",
            '<div class="charts">',
            *(_chart(rows, name, metric) for name in numeric),
            "</div>",
        ]
    body += ["<h2>Trials</h2>", _table(rows, params, metrics)]
    return document("minimake results", body, _CSS)


_CSS = """
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(320px,1fr));gap:12px}
figure{margin:0}figcaption{font-weight:600;font-size:13px}
.axis{stroke:var(--grid);stroke-width:1}.pt{fill:var(--ran);opacity:.8}
.miss{stroke:var(--failed);stroke-width:2}tr.failed td{color:var(--failed)}
tr.gone td{color:var(--muted)}td.warn{color:var(--ignored)}td.k{white-space:nowrap}
.wide{overflow-x:auto}body{max-width:none}
"""


def _all_params(rows: Sequence[Row]) -> list[str]:
    return sorted({name for row in rows for name, _ in row.params})


def _number(value: Any) -> float | None:
    return float(value) if finite_number(value) else None


def _numeric(rows: Sequence[Row], name: str) -> bool:
    """Whether every row that has param ``name`` has a number, and they are not all one."""
    values = [value for row in rows for param, value in row.params if param == name]
    numbers = {_number(value) for value in values}
    return bool(values) and None not in numbers and len(numbers) > 1


def _chart(rows: Sequence[Row], param: str, metric: str) -> str:
    points = []
    for row in rows:
        x = _number(dict(row.params).get(param))
        if x is not None:
            points.append((row, x, dict(row.metrics).get(metric)))
    xs = [x for _, x, _ in points]
    log = min(xs) > 0 and max(xs) / min(xs) >= LOG_SPAN
    to_x = _scale([math.log10(x) if log else x for x in xs], LEFT, WIDTH - RIGHT)
    ys = [y for _, _, y in points if y is not None]
    to_y = _scale(ys or [0.0], HEIGHT - BOTTOM, TOP)
    parts = [
        f"<figure><figcaption>{escape(param)}{' (log)' if log else ''}</figcaption>",
        f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" role="img">',
        f"<line class=axis x1={LEFT} y1={BASE} x2={WIDTH - RIGHT} y2={BASE} />",
        f"<line class=axis x1={LEFT} y1={TOP} x2={LEFT} y2={BASE} />",
    ]
    for value in sorted({min(ys or [0.0]), max(ys or [0.0])}):
        y = to_y(value)
        parts.append(f"<text x={LEFT - 4} y={y + 4:.1f} text-anchor=end>{value:.4g}</text>")
    for value in sorted({min(xs), max(xs)}):
        x = to_x(math.log10(value) if log else value)
        parts.append(
            f"<text x={x:.1f} y={HEIGHT - BOTTOM + 14} text-anchor=middle>{value:.4g}</text>"
        )
    parts.append(
        f"<text x={(LEFT + WIDTH - RIGHT) / 2} y={HEIGHT - 6} text-anchor=middle>"
        f"{escape(param)}</text>"
    )
    for row, x_value, y_value in points:
        x = to_x(math.log10(x_value) if log else x_value)
        scored = "-" if y_value is None else f"{y_value:g}"
        tip = escape(f"{row.name}: {param}={x_value:g}, {metric}={scored} ({row.state.label})")
        if y_value is None:
            y = HEIGHT - BOTTOM
            parts.append(
                f"<g class=miss><title>{tip}</title><line x1={x - 4:.1f} y1={y - 4} x2={x + 4:.1f} "
                f"y2={y + 4} /><line x1={x - 4:.1f} y1={y + 4} x2={x + 4:.1f} y2={y - 4} /></g>"
            )
        else:
            y = to_y(y_value)
            parts.append(
                f"<circle class=pt cx={x:.1f} cy={y:.1f} r=4><title>{tip}</title></circle>"
            )
    parts.append("</svg></figure>")
    return "".join(parts)


def _scale(values: Sequence[float], low: float, high: float) -> Any:
    """A linear map of ``values``' range onto [low, high], with a margin; the middle for one."""
    least, most = min(values), max(values)
    span = most - least
    margin = 10 if high > low else -10

    def to(value: float) -> float:
        if span == 0:
            return (low + high) / 2
        return low + margin + (value - least) / span * (high - low - 2 * margin)

    return to


def _table(rows: Sequence[Row], params: Sequence[str], metrics: Sequence[str]) -> str:
    head = ["Task", "State", *params, *metrics, "Duration", "Ended", "Note"]
    lines = []
    for row in rows:
        given, scored = dict(row.params), dict(row.metrics)
        cells = [f"<td>{escape(row.name)}</td><td class=k>{escape(row.state.label)}</td>"]
        cells += [f"<td>{escape(cell(given[n])) if n in given else ''}</td>" for n in params]
        cells += [
            f"<td class=n>{escape(cell(scored[n])) if n in scored else ''}</td>" for n in metrics
        ]
        cells += [
            f"<td class=n>{duration(row.seconds)}</td><td class=k>{escape(when(row.ended))}</td>"
        ]
        cells.append(f"<td class=warn>{escape(row.warning or '')}</td>")
        kind = _KINDS.get(row.state, "")
        lines.append(f"<tr{kind}>" + "".join(cells) + "</tr>")
    if not lines:
        return '<p class="note">No task with params or metrics has run.</p>'
    # A grid of many params is wider than the page: the table scrolls, the page does not.
    return f'<div class="wide">{table(head, lines)}</div>'
