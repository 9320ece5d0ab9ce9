"""What the dashboards' HTML widgets show, as text: tables, figures, times, and their style.

A live figure is one ``ipywidgets.HTML`` whose value is replaced whole, one comm message per
render, rather than a widget per cell (a venue table of 4 x 8 cells would be 32 messages a
tick). Everything put in the markup goes through :func:`esc`: venue names, event details
and headlines come from outside (a venue, a news feed).

    >>> cells = table(["venue", "f/s"], [[esc("kraken"), number(223.4, 1)]], "venues")
    >>> "<td>223.4</td>" in cells
    True
    >>> size(12_345_678)
    '12.3 MB'
    >>> ago(75.0)
    '1 min 15 s ago'
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Final

#: The dashboards' look, scoped to their own classes so nothing else on a page changes.
STYLE: Final = """<style>
.alphapulse-dashboard { font-family: var(--jp-ui-font-family, system-ui, sans-serif);
  font-size: 13px; color: var(--jp-ui-font-color1, #1a1a1a); }
.alphapulse-dashboard h2 { font-size: 18px; margin: 4px 0 8px; font-weight: 600; }
.alphapulse-dashboard h3 { font-size: 14px; margin: 10px 0 4px; font-weight: 600; }
.ap-line { color: var(--jp-ui-font-color2, #555); margin: 2px 0 6px; }
.ap-table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
.ap-table th, .ap-table td { padding: 3px 8px; text-align: left; white-space: nowrap;
  border-bottom: 1px solid var(--jp-border-color2, #e0e0e0); }
.ap-table th { font-weight: 600; color: var(--jp-ui-font-color2, #555); }
.ap-venues th:nth-child(n+3):nth-child(-n+9), .ap-venues td:nth-child(n+3):nth-child(-n+9) {
  text-align: right; }
.ap-events .ap-table { table-layout: fixed; }
.ap-events th:nth-child(1) { width: 60px; } .ap-events th:nth-child(2) { width: 104px; }
.ap-events th:nth-child(3) { width: 68px; } .ap-events th:nth-child(4) { width: 76px; }
.ap-table td.ap-text { overflow: hidden; text-overflow: ellipsis; }
.ap-ok { color: #1b8a5a; } .ap-warn { color: #b26b00; } .ap-bad { color: #c62828; }
.ap-events { max-height: 520px; overflow-y: auto; }
.ap-events td { font-size: 12px; overflow: hidden; text-overflow: ellipsis; line-height: 1.3; }
.ap-story h3 { margin-top: 0; }
</style>"""


def esc(value: object) -> str:
    """``value`` as text safe inside HTML (an element's text or an attribute's value)."""
    return html.escape(str(value), quote=True)


def table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], name: str, *, caption: str = ""
) -> str:
    """A table of already-escaped cells; ``name`` its class (``ap-<name>``), which the
    browser tests and the benchmark find it by."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(cell_html(c) for c in row) + "</tr>" for row in rows)
    top = f"<caption>{esc(caption)}</caption>" if caption else ""
    return (
        f'<table class="ap-table ap-{name}">{top}<thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table>"
    )


def cell_html(cell: str) -> str:
    """A cell: a ``<td ...>`` given whole, or escaped content to wrap in one."""
    return cell if cell.startswith("<td") else f"<td>{cell}</td>"


def number(value: float | None, digits: int = 0) -> str:
    """``1,234`` / ``12.5``; an en dash for a figure not known (yet)."""
    if value is None:
        return "\u2013"
    return f"{value:,.{digits}f}"


def size(nbytes: int) -> str:
    """Bytes as B, kB, MB or GB (powers of 1000, as the README's figures)."""
    value = float(nbytes)
    for unit in ("B", "kB", "MB"):
        if value < 1000:
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1000
    return f"{value:,.1f} GB"


def ago(seconds: float) -> str:
    """``4 s ago``, ``1 min 15 s ago``, ``2 h 5 min ago``."""
    whole = max(int(seconds), 0)
    if whole < 60:
        return f"{whole} s ago"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60} s ago"
    return f"{whole // 3600} h {whole % 3600 // 60} min ago"


def clock(epoch_s: float) -> str:
    """``15:42:07`` (UTC: the lake's and the venues' time zone)."""
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%H:%M:%S")


def stamp(epoch_s: float) -> str:
    """``2026-12-03 15:42:07 UTC``."""
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
