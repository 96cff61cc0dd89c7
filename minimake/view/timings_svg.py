"""The timing page's two drawings, as inline SVG: the timeline (a lane per slot or Dask worker,
a bar per recipe) and the concurrency chart. Sizes are in the drawings' own units, which the page
scales to the window; tooltips are SVG <title>s, so the page needs no script.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

import attrs

from minimake.record import Run, Span
from minimake.result import Status
from minimake.view.page import escape
from minimake.view.timings import Step, concurrency, lanes
from minimake.words import death, duration

WIDTH = 1200  # the drawings' coordinate width; they scale to the window
GUTTER = 130  # room for the lane labels
PLOT = WIDTH - GUTTER - 12
LANE, BAR = 22, 17
CHAR = 6.6  # the width of a bar label's character, roughly, at 11px
CHART = 150  # the concurrency chart's height
BAR_BUDGET = 3000  # bars drawn at most: beyond it thin bars merge more coarsely
CLIP = 8  # the concurrency scale stops at CLIP times -j when waiting goes past twice that
SEPARATED = 4  # bars at least this wide (px) get a hairline of background around them
OUTLINED = 5  # critical bars at least this wide (px) are outlined; all are underlined


def kind(span: Span) -> str:
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
        colour = kind(span)
        small = scale.width(span.seconds) < thin
        last = bars[-1] if bars else None
        if (
            small
            and last is not None
            and last.kind == colour
            and scale.width(last.spans[-1].seconds) < thin
            and scale.width(span.start - last.end) < thin
        ):
            bars[-1] = _Bar(last.start, max(last.end, span.end), colour, (*last.spans, span))
        else:
            bars.append(_Bar(span.start, span.end, colour, (span,)))
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


def timeline(run: Run, critical: set[str]) -> str:
    """The timeline, the ``critical`` tasks outlined (thin ones underlined)."""
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
        bar = _Bar(span.start, span.end, kind(span), (span,))
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
        lines.append(f"why: {shorten(span.reason)}")
    lines.append(ended(span))
    if span.worker:
        lines.append(f"worker: {span.worker}")
    lines.extend(f"{name}: {','.join(names)}" for name, names in span.held)
    return "\n".join(lines)


def _group_tip(bar: _Bar) -> str:
    longest = sorted(bar.spans, key=lambda span: -span.seconds)[:3]
    named = ", ".join(f"{span.name} ({duration(span.seconds)})" for span in longest)
    work = sum(span.seconds for span in bar.spans)
    return (
        f"{len(bar.spans)} tasks, {duration(bar.start)} to {duration(bar.end)}, "
        f"{duration(work)} of work\nlongest: {named}"
    )


def ended(span: Span) -> str:
    if span.signal is not None:
        return death(-span.signal)
    if span.returncode is not None:
        return f"exit {span.returncode}"
    if span.error:
        return shorten(span.error)
    return "ok" if not span.failed else "failed"


def shorten(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def chart(run: Run) -> str:
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
