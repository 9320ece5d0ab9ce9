"""The notebook templates the Lab extension offers: the research notebooks of ``notebooks/``,
listed with their title and first paragraph, and handed out clean (no outputs, no execution
counts) so that a researcher starts from a fresh copy.

Where they are: the wheel carries copies in ``alphapulse/templates/`` (made when the wheel
is built, gitignored like the widgets' bundle); a source checkout has none there and reads
its ``notebooks/``, so a development server needs no copy step. A name is a file's stem of
``[A-Za-z0-9_-]`` only, so no name can step out of the directory.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any, Final

import orjson

import alphapulse

log = logging.getLogger("alphapulse.server")

#: Copies made when the wheel is built (``pyproject.toml`` includes them).
PACKAGED: Final = Path(alphapulse.__file__).resolve().parent / "templates"
#: The originals, in a source checkout.
CHECKOUT: Final = Path(alphapulse.__file__).resolve().parent.parent / "notebooks"
#: What a template's name may be; anything else is no template (404), never a path.
NAME: Final = re.compile(r"[A-Za-z0-9_-]+")

_HEADING: Final = re.compile(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$")
_LINK: Final = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_EMPHASIS: Final = re.compile(r"(\*\*|__|`+)")


class TemplateError(ValueError):
    """A template file that is not an nbformat 4 notebook; the message names it."""


def templates_dir() -> Path | None:
    """The packaged copies when there are any, else the checkout's notebooks, else None."""
    for directory in (PACKAGED, CHECKOUT):
        if directory.is_dir() and any(directory.glob("*.ipynb")):
            return directory
    return None


def _paths() -> dict[str, Path]:
    directory = templates_dir()
    if directory is None:
        return {}
    return {p.stem: p for p in sorted(directory.glob("*.ipynb")) if NAME.fullmatch(p.stem)}


def _read(path: Path) -> dict[str, Any]:
    try:
        notebook = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as e:
        raise TemplateError(f"template {path.name}: not readable JSON ({e})") from None
    if (
        not isinstance(notebook, dict)
        or notebook.get("nbformat") != 4
        or not isinstance(notebook.get("cells"), list)
    ):
        raise TemplateError(f"template {path.name}: not an nbformat 4 notebook")
    return notebook


def list_templates() -> list[dict[str, str]]:
    """``[{"name", "title", "description"}]`` by name; a damaged file is logged and left
    out (the others are still offered)."""
    found = []
    for name, path in _paths().items():
        try:
            title, description = summary(_read(path))
        except TemplateError as e:
            log.warning("alphapulse: %s", e)
            continue
        found.append({"name": name, "title": title or name, "description": description})
    return found


def load_template(name: str) -> dict[str, Any] | None:
    """The notebook ``name`` with every code cell's outputs emptied and its execution count
    null (and Lab's run timings dropped); None when there is no such template."""
    if not NAME.fullmatch(name):
        return None
    path = _paths().get(name)
    if path is None:
        return None
    notebook = _read(path)
    for cell in notebook["cells"]:
        if isinstance(cell, dict) and cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
            if isinstance(cell.get("metadata"), dict):
                cell["metadata"].pop("execution", None)
    return notebook


def summary(notebook: dict[str, Any]) -> tuple[str, str]:
    """The first markdown heading's text and the paragraph after it, as plain text (the
    paragraph may be in the next markdown cell; "" when a code cell or heading comes
    first)."""
    title: str | None = None
    for cell in notebook.get("cells", []):
        if not isinstance(cell, dict):
            continue
        if cell.get("cell_type") != "markdown":
            if title is not None:
                return title, ""
            continue
        for paragraph in _paragraphs(_source(cell)):
            heading = _HEADING.match(paragraph.splitlines()[0])
            if title is None:
                if heading is not None:
                    title = _plain(heading.group(1))
                    rest = paragraph.splitlines()[1:]  # text right under the heading
                    if rest:
                        return title, _plain(" ".join(rest))
                continue
            return title, "" if heading is not None else _plain(paragraph)
    return title or "", ""


def _source(cell: dict[str, Any]) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _paragraphs(text: str) -> list[str]:
    return [p.strip("\n") for p in re.split(r"\n\s*\n", text) if p.strip()]


def _plain(markdown: str) -> str:
    """Markdown's inline marks dropped (code, bold, links keep their text), one line."""
    text = _LINK.sub(r"\1", markdown)
    text = _EMPHASIS.sub("", text)
    return " ".join(text.split())
