"""The timing page of a recorded Run: one self-contained HTML file (inline SVG and CSS, no
script, font or anything else fetched), readable in light and dark, small at 10,000 tasks.

The timeline has a lane per slot (or Dask worker), not a row per task, so it stays the same
height at any number of tasks; bars too thin to see are merged with their thin neighbours into
one bar whose tooltip says what it holds, and the table lists the slowest tasks only.
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from collections.abc import Iterable, Sequence
from html import escape

import attrs

from minimake.report import duration
from minimake.result import Status
from minimake.timings import Run, Span, Step, concurrency, critical_path, lanes

FOLDER = os.path.join(".minimake", "timings")
LATEST = "minimake-timing.html"

WIDTH = 1200  # the drawings' coordinate width; they scale to the window
GUTTER = 130  # room for the lane labels
PLOT = WIDTH - GUTTER - 12
LANE, BAR = 22, 17
CHAR = 6.6  # the width of a bar label's character, roughly, at 11px
CHART = 150  # the concurrency chart's height
BAR_BUDGET = 3000  # bars drawn at most: beyond it thin bars merge more coarsely
TABLE_ROWS = 300  # the slowest tasks listed
PATH_SHOWN = 40  # critical path tasks named
CLIP = 8  # the concurrency scale stops at CLIP times -j when waiting goes past twice that
SEPARATED = 4  # bars at least this wide (px) get a hairline of background around them
OUTLINED = 5  # critical bars at least this wide (px) are outlined; all are underlined


def page_path(folder: str, run: Run) -> str:
    """Where ``save`` writes ``run``'s page: named by when it began, as cargo names its own."""
    return os.path.join(folder, f"minimake-timing-{run.began:%Y%m%dT%H%M%S}.html")


def save(run: Run, folder: str) -> str:
    """Write the page as ``folder``/minimake-timing-<date>T<time>.html and a copy as
    ``folder``/minimake-timing.html (the latest run's); returns the first's path."""
    os.makedirs(folder, exist_ok=True)
    path = page_path(folder, run)
    with open(path, "w", encoding="utf-8") as file:
        file.write(page(run))
    shutil.copyfile(path, os.path.join(folder, LATEST))
    return path


def page(run: Run) -> str:
    """The whole page."""
    critical = critical_path(run)
    title = f"minimake timings: {' '.join(run.goals) or 'default goal'}"
    body = [
        f"<h1>{escape(title)}</h1>",
        _header(run),
        "<h2>Timeline</h2>",
        _legend(),
        _timeline(run, set(critical)),
        "<h2>Concurrency</h2>",
        '<p class="note">Recipes running, and tasks whose deps were done but that waited for '
        "a slot (or a resource): where the second area shows, more slots would have helped.</p>",
        _chart(run),
        "<h2>Critical path</h2>",
        _critical(run, critical),
        "<h2>Tasks by duration</h2>",
        _table(run),
    ]
    return (
        "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )


_CSS = """
:root{color-scheme:light dark;--bg:#fff;--fg:#1f2328;--muted:#59636e;--grid:#d1d9e0;
--lane:#f3f5f7;--ran:#3f7cc0;--failed:#d1242f;--ignored:#d98a1c;--pretend:#8c959f;
--wait:#e9b949;--crit:#1f2328}
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--fg:#e6edf3;--muted:#9198a1;
--grid:#3d444d;--lane:#161b22;--ran:#4c8fd6;--failed:#f4555f;--ignored:#e69d3a;
--pretend:#656c76;--wait:#b8901f;--crit:#f0f6fc}}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;
max-width:1240px;padding:0 16px;background:var(--bg);color:var(--fg)}
h1{font-size:20px;margin:0 0 12px}h2{font-size:16px;margin:28px 0 8px}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px;margin:0}
dt{color:var(--muted)}dd{margin:0}.note{color:var(--muted);margin:4px 0 8px}
svg{width:100%;height:auto;display:block}svg text{fill:var(--muted);font-size:11px}
.lane{fill:var(--lane)}.tick{stroke:var(--grid);stroke-width:1}
.ran{fill:var(--ran)}.failed{fill:var(--failed)}.ignored{fill:var(--ignored)}
.pretend{fill:var(--pretend)}.wait{fill:var(--wait)}.merged{opacity:.75}
rect.sep{stroke:var(--bg);stroke-width:1}
rect.crit{stroke:var(--crit);stroke-width:2}.under{fill:var(--crit)}
svg text.bl{fill:#fff;pointer-events:none}.limit{stroke:var(--fg);stroke-dasharray:5 4}
.key{display:inline-block;width:12px;height:12px;vertical-align:-1px;margin:0 4px 0 14px}
.key.crit{border:2px solid var(--crit);width:8px;height:8px;background:var(--ran)}
.key.ran{background:var(--ran)}.key.failed{background:var(--failed)}
.key.ignored{background:var(--ignored)}.key.wait{background:var(--wait)}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{text-align:left;padding:3px 8px;border-bottom:1px solid var(--grid);vertical-align:top}
th{color:var(--muted);font-weight:600}td.n{text-align:right;white-space:nowrap}
td.why{color:var(--muted)}
"""


def _header(run: Run) -> str:
    work = run.task_seconds
    parallelism = f"{work / run.seconds:.1f}x" if run.seconds > 0 else "-"
    rows = [
        ("Goals", " ".join(run.goals) or "(default)"),
        ("Jobs (-j)", str(run.jobs)),
        ("Executor", run.executor),
        ("Began", f"{run.began:%Y-%m-%d %H:%M:%S}"),
        ("Wall time", duration(run.seconds) + (" (interrupted)" if run.interrupted else "")),
        ("Task time", duration(work)),
        ("Parallelism", parallelism),
        ("Tasks", _counts(run.spans)),
    ]
    items = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in rows)
    return f"<dl>{items}</dl>"


def _counts(spans: Iterable[Span]) -> str:
    """ "12 ran, 3 up to date, 1 failed": each status that occurs, aliases left out."""
    tally = dict.fromkeys(Status, 0)
    for span in spans:
        if span.has_recipe:
            tally[span.status] += 1
    return ", ".join(f"{n} {status.value}" for status, n in tally.items() if n) or "none"


def _legend() -> str:
    keys = [("ran", "ran"), ("failed", "failed"), ("ignored", "failed, ignored (-i)")]
    keys += [("crit", "critical path")]
    shown = "".join(f'<span class="key {k}"></span>{escape(label)}' for k, label in keys)
    return f'<p class="note">{shown}</p>'


def _kind(span: Span) -> str:
    """The CSS class of a bar."""
    if span.status is Status.FAILED:
        return "failed"
    if span.failed:
        return "ignored"
    return "ran" if span.status is Status.RAN else "pretend"


class _Scale:
    """Seconds to x, and ticks at round times."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds if seconds > 0 else 1.0

    def x(self, seconds: float) -> float:
        return GUTTER + seconds / self.seconds * PLOT

    def width(self, seconds: float) -> float:
        return seconds / self.seconds * PLOT

    def ticks(self) -> list[float]:
        steps = [m * 10.0**e for e in range(-3, 3) for m in (1, 2, 5)]
        steps += [60.0 * m for m in (1, 2, 5, 10, 15, 30, 60, 120, 240, 600, 1440)]
        step = next((s for s in sorted(steps) if self.seconds / s <= 10), steps[-1])
        return [i * step for i in range(int(self.seconds / step) + 1)]


def _tick_label(seconds: float) -> str:
    if seconds == 0:
        return "0"
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    return duration(seconds).replace(".0s", "s")


def _axis(scale: _Scale, top: int, bottom: int) -> list[str]:
    parts = []
    for tick in scale.ticks():
        x = f"{scale.x(tick):.1f}"
        parts.append(f"<line class=tick x1={x} x2={x} y1={top} y2={bottom} />")
        parts.append(f"<text x={x} y={top - 5} text-anchor=middle>{_tick_label(tick)}</text>")
    return parts


@attrs.frozen
class _Bar:
    """A bar to draw: one task, or thin neighbours merged."""

    start: float
    end: float
    kind: str
    spans: tuple[Span, ...]


def _merge(spans: Sequence[Span], scale: _Scale, thin: float) -> list[_Bar]:
    """One lane's bars, thin ones (under ``thin`` px) merged with thin neighbours of their kind
    that start less than ``thin`` px after them."""
    bars: list[_Bar] = []
    for span in spans:
        kind = _kind(span)
        small = scale.width(span.seconds) < thin
        last = bars[-1] if bars else None
        if (
            small
            and last is not None
            and last.kind == kind
            and scale.width(last.spans[-1].seconds) < thin
            and scale.width(span.start - last.end) < thin
        ):
            bars[-1] = _Bar(last.start, max(last.end, span.end), kind, (*last.spans, span))
        else:
            bars.append(_Bar(span.start, span.end, kind, (span,)))
    return bars


def short_names(names: Iterable[str]) -> dict[str, str]:
    """Each name without the leading folders it shares with others, for as long as it stays
    unique ("dist/trained/mlp-3d7c/metrics.json" reads "mlp-3d7c/metrics.json"): in a narrow
    bar, the part that tells tasks apart comes first."""
    parts = {name: name.split("/") for name in names}
    counts = Counter(tuple(p[i:]) for p in parts.values() for i in range(len(p)))
    short = {}
    for name, words in parts.items():
        first = len(words) - 1
        while first > 0 and counts[tuple(words[first:])] > 1:
            first -= 1
        short[name] = "/".join(words[first:])
    return short


def _timeline(run: Run, critical: set[str]) -> str:
    labels, lane_of = lanes(run)
    short = short_names(lane_of)
    scale = _Scale(run.seconds)
    per_lane: list[list[Span]] = [[] for _ in labels]
    for span in run.spans:
        if span.ran and span.name not in critical:
            per_lane[lane_of[span.name]].append(span)
    for spans in per_lane:
        spans.sort(key=lambda span: span.start)
    thin = 2.0
    while True:  # coarser merging until the page stays small
        bars = [(i, bar) for i, spans in enumerate(per_lane) for bar in _merge(spans, scale, thin)]
        if len(bars) <= BAR_BUDGET or thin > PLOT:
            break
        thin *= 2
    top = 22
    height = top + LANE * max(len(labels), 1) + 4
    parts = [f'<svg viewBox="0 0 {WIDTH} {height}" role=img aria-label="timeline">']
    for index, label in enumerate(labels):
        y = top + index * LANE
        parts.append(f"<rect class=lane x={GUTTER} y={y} width={PLOT} height={BAR} />")
        parts.append(f"<text x={GUTTER - 6} y={y + 12.5} text-anchor=end>{escape(label)}</text>")
    parts += _axis(scale, top, height - 2)
    for index, bar in bars:
        parts.append(_bar(bar, scale, top + index * LANE, "", short))
    by_name = run.by_name()
    for name in critical:
        span = by_name[name]
        bar = _Bar(span.start, span.end, _kind(span), (span,))
        y = top + lane_of[name] * LANE
        # Outlines of hundreds of thin bars would blacken a lane: thin ones are only underlined.
        wide = scale.width(span.seconds) >= OUTLINED
        parts.append(_bar(bar, scale, y, " crit" if wide else "", short))
        x, width = scale.x(span.start), max(scale.width(span.seconds), 1.0)
        parts.append(f"<rect class=under x={x:.1f} y={y + BAR + 1} width={width:.1f} height=2 />")
    if not labels:
        parts.append(f"<text x={GUTTER} y={top + 12}>No recipe ran.</text>")
    parts.append("</svg>")
    return "\n".join(parts)


def _bar(bar: _Bar, scale: _Scale, y: int, extra: str, short: dict[str, str]) -> str:
    x, width = scale.x(bar.start), max(scale.width(bar.end - bar.start), 1.0)
    merged = " merged" if len(bar.spans) > 1 else ""
    merged += " sep" if width >= SEPARATED else ""  # a hairline between neighbours
    tip = _tip(bar.spans[0]) if len(bar.spans) == 1 else _group_tip(bar)
    rect = (
        f'<rect class="{bar.kind}{merged}{extra}" x={x:.1f} y={y} width={width:.1f} height={BAR}>'
    )
    label = _fit(short[bar.spans[0].name], width) if len(bar.spans) == 1 else ""
    if len(bar.spans) > 1 and width - 8 >= CHAR * len(f"{len(bar.spans)} tasks"):
        label = f"{len(bar.spans)} tasks"
    if not label:
        return f"{rect}<title>{escape(tip)}</title></rect>"
    text = f"<text class=bl x={x + 4:.1f} y={y + 12.5}>{escape(label)}</text>"
    return f"<g><title>{escape(tip)}</title>{rect}</rect>{text}</g>"


def _fit(name: str, width: float) -> str:
    """As much of ``name`` as fits in a bar ``width`` wide (no clip paths: they would need
    url() references), or nothing when too little would."""
    room = int((width - 8) / CHAR)
    if room >= len(name):
        return name
    return name[: room - 1] + "…" if room >= 4 else ""


def _tip(span: Span) -> str:
    lines = [span.name, f"{duration(span.seconds)}, from {duration(span.start)}"]
    if span.waited > 0.05:
        lines[-1] += f" (ready {duration(span.waited)} earlier)"
    if span.reason:
        lines.append(f"why: {_short(span.reason)}")
    lines.append(_ended(span))
    if span.worker:
        lines.append(f"worker: {span.worker}")
    return "\n".join(lines)


def _group_tip(bar: _Bar) -> str:
    longest = sorted(bar.spans, key=lambda span: -span.seconds)[:3]
    named = ", ".join(f"{span.name} ({duration(span.seconds)})" for span in longest)
    work = sum(span.seconds for span in bar.spans)
    return (
        f"{len(bar.spans)} tasks, {duration(bar.start)} to {duration(bar.end)}, "
        f"{duration(work)} of work\nlongest: {named}"
    )


def _ended(span: Span) -> str:
    if span.signal is not None:
        return f"killed by signal {span.signal}"
    if span.returncode is not None:
        return f"exit {span.returncode}"
    if span.error:
        return _short(span.error)
    return "ok" if not span.failed else "failed"


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _chart(run: Run) -> str:
    """Running recipes as an area, ready-but-waiting stacked on it, and the -j line."""
    steps = _columns(concurrency(run), run.seconds, PLOT)
    scale = _Scale(run.seconds)
    top, bottom = 22, 22 + CHART
    peak = max([run.jobs, *(s.running + s.waiting for s in steps)]) or 1
    # Thousands waiting on 16 slots would squash the running ones to a line: past a point
    # the scale stops, and says so.
    ceiling = min(peak, CLIP * run.jobs) if peak > 2 * CLIP * run.jobs else peak

    def y(value: float) -> str:
        return f"{bottom - min(value, ceiling) / ceiling * CHART:.1f}"

    def area(values: list[tuple[float, float]]) -> str:
        path = [f"M{scale.x(0):.1f},{bottom}"]
        for moment, value in values:
            path.append(f"H{scale.x(moment):.1f}V{y(value)}")
        path.append(f"H{scale.x(run.seconds):.1f}V{bottom}Z")
        return "".join(path)

    height = bottom + 6
    parts = [f'<svg viewBox="0 0 {WIDTH} {height}" role=img aria-label="concurrency">']
    parts += _axis(scale, top, bottom)
    parts.append(
        f'<path class=wait d="{area([(s.time, s.running + s.waiting) for s in steps])}">'
        "<title>ready, waiting for a slot</title></path>"
    )
    parts.append(
        f'<path class=ran d="{area([(s.time, s.running) for s in steps])}">'
        "<title>recipes running</title></path>"
    )
    limit = y(run.jobs)
    parts.append(f"<line class=limit x1={GUTTER} x2={GUTTER + PLOT} y1={limit} y2={limit} />")
    parts.append(f"<text x={GUTTER - 6} y={limit} text-anchor=end>-j {run.jobs}</text>")
    parts.append(f"<text x={GUTTER - 6} y={bottom} text-anchor=end>0</text>")
    if ceiling > run.jobs:
        label = f"{ceiling:.0f}" + ("+" if ceiling < peak else "")
        parts.append(f"<text x={GUTTER - 6} y={top + 9} text-anchor=end>{label}</text>")
    parts.append("</svg>")
    key = '<span class="key ran"></span>running<span class="key wait"></span>ready, waiting'
    if ceiling < peak:
        key += f" (up to {peak:.0f} at once; the scale stops at {ceiling:.0f})"
    return f'<p class="note">{key}</p>' + "\n".join(parts)


def _columns(steps: Sequence[Step], seconds: float, columns: int) -> list[Step]:
    """``steps`` as they are when few, else averaged over time into ``columns`` equal slices
    (what a pixel column can show), so the chart's size does not grow with the tasks."""
    if len(steps) <= columns or seconds <= 0:
        return list(steps)
    width = seconds / columns
    running = [0.0] * columns
    waiting = [0.0] * columns
    for step, following in zip(steps, [*steps[1:], Step(seconds, 0, 0)], strict=True):
        begin, end = step.time, min(following.time, seconds)
        while begin < end:
            column = min(int(begin / width), columns - 1)
            upto = min(end, (column + 1) * width)
            running[column] += step.running * (upto - begin) / width
            waiting[column] += step.waiting * (upto - begin) / width
            begin = upto if upto > begin else end
    return [Step(i * width, round(running[i], 2), round(waiting[i], 2)) for i in range(columns)]


def _critical(run: Run, critical: Sequence[str]) -> str:
    if not critical:
        return '<p class="note">No recipe ran.</p>'
    spans = run.by_name()
    work = sum(spans[name].seconds for name in critical)
    shown = [
        f"{escape(name)} <span class=note>({duration(spans[name].seconds)})</span>"
        for name in critical[:PATH_SHOWN]
    ]
    if len(critical) > PATH_SHOWN:
        shown.append(f"… {len(critical) - PATH_SHOWN} more")
    share = f"{work / run.seconds:.0%}" if run.seconds > 0 else "-"
    return (
        f'<p class="note">{len(critical)} tasks, {duration(work)} of recipes, {share} of the '
        "wall time (the rest is the engine's own). Each waited for the one before it: its last "
        "dep, or, when it was ready earlier, the recipe that freed its slot. Outlined in the "
        "timeline.</p>"
        f"<p>{' → '.join(shown)}</p>"
    )


def _table(run: Run) -> str:
    ran = sorted((s for s in run.spans if s.ran), key=lambda span: (-span.seconds, span.name))
    head = "".join(
        f"<th>{h}</th>"
        for h in ("#", "Task", "Duration", "Status", "Started", "Waited", "Why", "Ended")
    )
    rows = []
    for number, span in enumerate(ran[:TABLE_ROWS], 1):
        cells = [
            f"<td class=n>{number}</td><td>{escape(span.name)}</td>",
            f"<td class=n>{duration(span.seconds)}</td><td>{escape(span.status.value)}</td>",
            f"<td class=n>{duration(span.start)}</td>",
            f"<td class=n>{duration(span.waited) if span.waited > 0.05 else ''}</td>",
            f"<td class=why>{escape(_short(span.reason or ''))}</td>",
            f"<td>{escape(_ended(span))}</td>",
        ]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    more = ""
    if len(ran) > TABLE_ROWS:
        rest = ran[TABLE_ROWS:]
        more = (
            f'<p class="note">and {len(rest)} more, each {duration(rest[0].seconds)} or less '
            "(--trace FILE keeps every task).</p>"
        )
    if not ran:
        return '<p class="note">No recipe ran.</p>'
    return (
        f"<table><thead><tr>{head}</tr></thead><tbody>\n"
        + "\n".join(rows)
        + "\n</tbody></table>"
        + more
    )
