"""Tiny report notebooks for the runner and scheduler tests: real notebooks, run by
papermill in a real kernel, that succeed, fail, hang or take a set time."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import orjson

#: name → (parameters cell, body)
NOTEBOOKS = {
    "tiny": (
        "x = 1\nlake = None",
        "print('x squared is', x * x)\nif x < 0:\n    raise ValueError(f'x is negative: {x}')",
    ),
    "sleepy": ("seconds = 1.0", "import time\ntime.sleep(seconds)\nprint('slept', seconds)"),
    "hangs": ("", "print('before the hang', flush=True)"),
    "dated": ("date = None", "print('report for', date)"),
}
#: The hanging notebook's second cell: a loop that no interrupt is needed to reach.
HANG = "import time\nwhile True:\n    time.sleep(1)"


def write_reports(directory: Path) -> Path:
    """The notebooks above as ``directory/NAME.ipynb`` (set $ALPHAPULSE_REPORTS to it)."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, (parameters, body) in NOTEBOOKS.items():
        cells = [
            _cell("markdown", f"# The {name} report"),
            _cell("code", parameters, tags=["parameters"]),
            _cell("code", body),
        ]
        if name == "hangs":
            cells.append(_cell("code", HANG))
        notebook = {
            "nbformat": 4,
            "nbformat_minor": 5,
            "metadata": {
                "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
            },
            "cells": cells,
        }
        (directory / f"{name}.ipynb").write_bytes(orjson.dumps(notebook))
    return directory


def _cell(kind: str, source: str, tags: list[str] | None = None) -> dict[str, Any]:
    cell: dict[str, Any] = {
        "cell_type": kind,
        "id": uuid.uuid4().hex[:8],
        "metadata": {"tags": tags} if tags else {},
        "source": source,
    }
    if kind == "code":
        cell.update(outputs=[], execution_count=None)
    return cell
