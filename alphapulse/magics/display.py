"""What a ``%%duckdb`` cell shows: a compact table (head and tail) with the row count and the
elapsed time, as HTML in a notebook and as text in a terminal.

``QueryResult`` is the cell's value. It holds the result (``.data``: polars, pandas or
pyarrow) and passes attribute access, ``len``, indexing, iteration and the Arrow PyCapsule
interface on to it, so ``df = %duckdb select ...`` can be used as the frame itself.
Rendering reads only the head and tail rows, from the Arrow table the query produced.
"""

from __future__ import annotations

import html
from datetime import date, datetime, time
from typing import Any, Final

import pyarrow as pa

#: Longest text shown in a cell of the table.
MAX_CELL: Final = 48


class QueryResult:
    """A query's result and how it displays; see the module docstring."""

    def __init__(
        self, data: Any, table: pa.Table, *, elapsed: float, max_rows: int, sql: str
    ) -> None:
        self.data = data
        self.table = table
        self.elapsed = elapsed
        self.max_rows = max_rows
        self.sql = sql

    @property
    def rows(self) -> int:
        rows: int = self.table.num_rows
        return rows

    # -- the result, passed through ---------------------------------------------------------

    def __getattr__(self, name: str) -> Any:
        # Private names stay ours: IPython's formatters look for _repr_*_ and
        # _ipython_display_, and the result's own would replace this table.
        if name.startswith("_") or name in ("data", "table"):
            raise AttributeError(name)
        return getattr(self.data, name)

    def __len__(self) -> int:
        return self.rows

    def __getitem__(self, key: Any) -> Any:
        return self.data[key]

    def __iter__(self) -> Any:
        return iter(self.data)

    def __arrow_c_stream__(self, requested_schema: object = None) -> object:
        return self.table.__arrow_c_stream__(requested_schema)

    # -- display ------------------------------------------------------------------------

    def _shown(self) -> tuple[list[list[str]], int]:
        """Formatted rows to show, and the index before which the '...' row goes (-1: none)."""
        total = self.table.num_rows
        limit = max(self.max_rows, 0)
        if total <= limit:
            return _formatted(self.table), -1
        head = (limit + 1) // 2
        tail = limit - head
        rows = _formatted(self.table.slice(0, head))
        rows += _formatted(self.table.slice(total - tail, tail)) if tail else []
        return rows, head

    def footer(self) -> str:
        total = self.table.num_rows
        shown = min(total, max(self.max_rows, 0))
        columns = self.table.num_columns
        count = f"{total:,} row{'s' * (total != 1)} x {columns} column{'s' * (columns != 1)}"
        more = f" (showing {shown})" if shown < total else ""
        return f"{count}{more} · {_duration(self.elapsed)}"

    def _repr_html_(self) -> str:
        rows, gap = self._shown()
        names = self.table.column_names
        types = [str(t) for t in self.table.schema.types]
        head = "".join(
            f'<th title="{html.escape(t)}">{html.escape(n)}<br>'
            f'<span style="font-weight:normal;opacity:.6">{html.escape(_short_type(t))}</span></th>'
            for n, t in zip(names, types, strict=True)
        )
        body = []
        for i, row in enumerate(rows):
            if i == gap:
                body.append(f'<tr><td colspan="{len(names)}" style="text-align:center">…</td></tr>')
            body.append("<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in row) + "</tr>")
        if gap == len(rows):
            body.append(f'<tr><td colspan="{len(names)}" style="text-align:center">…</td></tr>')
        return (
            '<div class="alphapulse-result" style="overflow-x:auto">'
            '<table style="font-size:12px;border-collapse:collapse">'
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
            f'<div style="font-size:11px;opacity:.7">{html.escape(self.footer())}</div></div>'
        )

    def __repr__(self) -> str:
        rows, gap = self._shown()
        names = self.table.column_names
        widths = [len(n) for n in names]
        for row in rows:
            widths = [max(w, len(v)) for w, v in zip(widths, row, strict=True)]
        lines = [" │ ".join(n.ljust(w) for n, w in zip(names, widths, strict=True))]
        lines.append("─┼─".join("─" * w for w in widths))
        for i, row in enumerate(rows):
            if i == gap:
                lines.append(" │ ".join("…".ljust(w) for w in widths))
            lines.append(" │ ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))
        if gap == len(rows):
            lines.append(" │ ".join("…".ljust(w) for w in widths))
        lines.append(self.footer())
        return "\n".join(line.rstrip() for line in lines)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))


class TextView:
    """A block of text (a plan, a profile, the saved snippets) shown as-is."""

    def __init__(self, text: str, *, title: str = "") -> None:
        self.text = text
        self.title = title

    def __repr__(self) -> str:
        return f"{self.title}\n{self.text}" if self.title else self.text

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))

    def _repr_html_(self) -> str:
        title = f"<b>{html.escape(self.title)}</b>" if self.title else ""
        return f'{title}<pre style="font-size:12px;line-height:1.2">{html.escape(self.text)}</pre>'


def _formatted(table: pa.Table) -> list[list[str]]:
    return [[_cell(v) for v in row.values()] for row in table.to_pylist()]


def _cell(value: object) -> str:
    if value is None:
        text = "null"
    elif isinstance(value, float):
        text = f"{value:.10g}"
    elif isinstance(value, datetime):
        text = value.isoformat(sep=" ")
    elif isinstance(value, date | time):
        text = value.isoformat()
    else:
        text = str(value)
    text = text.replace("\n", "⏎")
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def _short_type(arrow_type: str) -> str:
    return arrow_type.replace("timestamp[ns, tz=UTC]", "timestamp").replace("large_", "")


def _duration(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.1f} ms"
    return f"{seconds:.2f} s"
