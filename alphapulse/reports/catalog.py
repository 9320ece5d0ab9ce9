"""Which report notebooks exist, where, and what parameters they take.

A report is a notebook with a cell tagged ``parameters`` (papermill's convention). They are
looked up, first match wins, in ``$ALPHAPULSE_REPORTS`` (a user's own reports),
``notebooks/reports/`` of a source checkout (so that an edit there is what runs, without a
rebuild), then the package's copies (``alphapulse/templates/reports/``, made from
``notebooks/reports/`` by ``make templates`` and shipped in the wheel).
"""

from __future__ import annotations

import ast
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

PACKAGE_REPORTS = Path(__file__).resolve().parent.parent / "templates" / "reports"
SOURCE_REPORTS = Path(__file__).resolve().parent.parent.parent / "notebooks" / "reports"
#: A report's name: what ``alphapulse report run NAME`` takes and what names its archive.
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


class ReportError(Exception):
    """A report that cannot be run as asked (unknown name, bad parameter): one line."""


@dataclass(frozen=True)
class ReportInfo:
    name: str
    path: Path
    title: str
    #: The ``parameters`` cell's names and their default values (None where the default is
    #: not a literal).
    parameters: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "parameters": self.parameters}


def search_path() -> list[Path]:
    dirs = []
    if own := os.environ.get("ALPHAPULSE_REPORTS"):
        dirs.append(Path(own).expanduser())
    return [*dirs, SOURCE_REPORTS, PACKAGE_REPORTS]


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME.match(name):
        raise ReportError(
            f"a report's name is letters, digits, '_' and '-' (up to 64), not {name!r}"
        )
    return name


def find_report(name: str) -> Path:
    """The notebook of report ``name`` (ReportError naming the ones there are if none)."""
    check_name(name)
    for directory in search_path():
        path = directory / f"{name}.ipynb"
        if path.is_file():
            return path
    known = ", ".join(info.name for info in list_reports()) or "none"
    raise ReportError(f"no report named {name!r} (reports: {known})")


def list_reports() -> list[ReportInfo]:
    """Every report on the search path, by name (a name found twice: the first one)."""
    found: dict[str, ReportInfo] = {}
    for directory in search_path():
        if not directory.is_dir():
            continue
        for path in sorted(directory.glob("*.ipynb")):
            if path.stem in found or not NAME.match(path.stem):
                continue
            try:
                found[path.stem] = describe(path)
            except ReportError:
                continue  # a damaged notebook is named when it is run, not listed
    return sorted(found.values(), key=lambda info: info.name)


def describe(path: Path) -> ReportInfo:
    """A report's title (its first heading) and parameters, read without a kernel."""
    try:
        notebook = orjson.loads(path.read_bytes())
        cells = notebook["cells"]
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError) as e:
        raise ReportError(f"{path}: not a readable notebook ({e})") from None
    title: str | None = None
    parameters: dict[str, Any] = {}
    for cell in cells:
        source = _source(cell)
        if title is None and cell.get("cell_type") == "markdown":
            title = next(
                (ln[2:].strip() for ln in source.splitlines() if ln.startswith("# ")), None
            )
        tags = cell.get("metadata", {}).get("tags", [])
        if cell.get("cell_type") == "code" and "parameters" in tags:
            parameters.update(_assignments(source))
    title = title or path.stem.replace("_", " ").capitalize()
    return ReportInfo(path.stem, path, title, parameters)


def _source(cell: dict[str, Any]) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _assignments(source: str) -> dict[str, Any]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return {}
    values: dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name):
                try:
                    values[target.id] = ast.literal_eval(node.value)
                except ValueError:
                    values[target.id] = None
    return values
