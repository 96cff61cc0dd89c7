"""The timing page of a recorded Run: one self-contained HTML file (inline SVG and CSS, no
script, font or anything else fetched), readable in light and dark, small at 10,000 tasks.

The timeline has a lane per slot (or Dask worker), not a row per task, so it stays the same
height at any number of tasks; bars too thin to see are merged with their thin neighbours into
one bar whose tooltip says what it holds, and the table lists the slowest tasks only.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

from minimake.record import Run, Span
from minimake.result import Status
from minimake.view.page import definitions, document, escape, table
from minimake.view.timings import critical_path
from minimake.view.timings_svg import chart, ended, kind, shorten, timeline
from minimake.words import duration

FOLDER = os.path.join(".minimake", "timings")
LATEST = "minimake-timing.html"

TABLE_ROWS = 300  # the slowest tasks listed
PATH_SHOWN = 40  # critical path tasks named


def page_path(folder: str, run: Run) -> str:
    """Where ``save`` writes ``run``'s page: named by when it began, as cargo names its own."""
    return os.path.join(folder, f"minimake-timing-{run.began:%Y%m%dT%H%M%S}.html")


def save(run: Run, folder: str) -> str:
    """Write the page as ``folder``/minimake-timing-<date>T<time>.html and a copy as
    ``folder``/minimake-timing.html (the latest run's); returns the first's path."""
    os.makedirs(folder, exist_ok=True)
    path = page_path(folder, run)
    text = page(run)
    # Each written beside, then renamed into place: a symbolic link planted at either name is
    # replaced, never written through.
    for name in (path, os.path.join(folder, LATEST)):
        partial = f"{name}.{os.getpid()}.partial"
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW
        with open(os.open(partial, flags, 0o644), "w", encoding="utf-8") as file:
            file.write(text)
        os.replace(partial, name)
    return path


def page(run: Run) -> str:
    """The whole page."""
    critical = critical_path(run)
    title = f"minimake timings: {' '.join(run.goals) or 'default goal'}"
    body = [
        f"<h1>{escape(title)}</h1>",
        _header(run),
        "<h2>Timeline</h2>",
        _legend(run),
        timeline(run, set(critical)),
        "<h2>Concurrency</h2>",
        '<p class="note">Recipes running, and tasks whose deps were done but that waited for '
        "a slot (or a resource): where the second area shows, more slots would have helped.</p>",
        chart(run),
        "<h2>Critical path</h2>",
        _critical(run, critical),
        "<h2>Tasks by duration</h2>",
        _table(run),
    ]
    return document(title, body, _CSS)


# Beside the base: the timeline's bars and their key.
_CSS = """
.lane{fill:var(--lane)}.tick{stroke:var(--grid);stroke-width:1}
.ran{fill:var(--ran)}.failed{fill:var(--failed)}.ignored{fill:var(--ignored)}
.pretend{fill:var(--pretend)}.wait{fill:var(--wait)}.merged{opacity:.75}
rect.sep{stroke:var(--bg);stroke-width:1}
rect.crit{stroke:var(--crit);stroke-width:2}.under{fill:var(--crit)}
svg text.bl{fill:#fff;pointer-events:none}.limit{stroke:var(--fg);stroke-dasharray:5 4}
.key{display:inline-block;width:12px;height:12px;vertical-align:-1px;margin:0 4px 0 14px}
.key.crit{border:2px solid var(--crit);width:8px;height:8px;background:var(--ran)}
.key.ran{background:var(--ran)}.key.failed{background:var(--failed)}
.key.ignored{background:var(--ignored)}.key.pretend{background:var(--pretend)}
.key.wait{background:var(--wait)}
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
    return definitions(rows)


def _counts(spans: Iterable[Span]) -> str:
    """ "12 ran, 3 up to date, 1 failed": each status that occurs, aliases left out."""
    tally = dict.fromkeys(Status, 0)
    for span in spans:
        if span.has_recipe:
            tally[span.status] += 1
    return ", ".join(f"{n} {status.label}" for status, n in tally.items() if n) or "none"


def _legend(run: Run) -> str:
    """The colours of the bars this run has, and the critical path's outline."""
    names = {"ran": "ran", "pretend": "would run (-n) or touched (-t)", "failed": "failed"}
    names["ignored"] = "failed, ignored (-i)"
    present = {kind(span) for span in run.spans if span.ran}
    keys = [(key, label) for key, label in names.items() if key in present or key == "ran"]
    keys.append(("crit", "critical path"))
    shown = "".join(f'<span class="key {k}"></span>{escape(label)}' for k, label in keys)
    return f'<p class="note">{shown}</p>'


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
    head = ("#", "Task", "Duration", "Status", "Started", "Waited", "Why", "Ended")
    rows = []
    for number, span in enumerate(ran[:TABLE_ROWS], 1):
        cells = [
            f"<td class=n>{number}</td><td>{escape(span.name)}</td>",
            f"<td class=n>{duration(span.seconds)}</td><td>{escape(span.status.label)}</td>",
            f"<td class=n>{duration(span.start)}</td>",
            f"<td class=n>{duration(span.waited) if span.waited > 0.05 else ''}</td>",
            f"<td class=why>{escape(shorten(span.reason or ''))}</td>",
            f"<td>{escape(ended(span))}</td>",
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
    return table(head, rows) + more
