"""What the pages of recorded runs share (the timing page, the results page): one
self-contained HTML document with its CSS inline, light and dark, and the escaping of text."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape

__all__ = ["BASE_CSS", "definitions", "document", "escape", "table"]

# The colours and the parts both pages have: text, headings, notes, drawings, tables.
BASE_CSS = """
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
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{text-align:left;padding:3px 8px;border-bottom:1px solid var(--grid);vertical-align:top}
th{color:var(--muted);font-weight:600}td.n{text-align:right;white-space:nowrap}
"""


def document(title: str, body: Iterable[str], css: str = "") -> str:
    """The whole page: ``title`` (text), the ``body`` parts (HTML), and CSS beside the base."""
    return (
        "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{BASE_CSS}{css}</style></head><body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )


def definitions(pairs: Iterable[tuple[str, str]]) -> str:
    """A list of names and values (text), as the pages' headers show them."""
    items = "".join(f"<dt>{escape(name)}</dt><dd>{escape(value)}</dd>" for name, value in pairs)
    return f"<dl>{items}</dl>"


def table(head: Sequence[str], rows: Iterable[str]) -> str:
    """A table of ``head`` (text) over ``rows``, each a ``<tr>`` already made."""
    cells = "".join(f"<th>{escape(name)}</th>" for name in head)
    return (
        f"<table><thead><tr>{cells}</tr></thead><tbody>\n" + "\n".join(rows) + "\n</tbody></table>"
    )
