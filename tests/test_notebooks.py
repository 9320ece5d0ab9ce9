"""The research notebooks in ``notebooks/`` run top to bottom in a real kernel against a lake
that a short simulated collection made (Kraken, Coinbase and Alpaca's trades and news).

Their figures are saved to ``data/test-artifacts/notebooks/`` to be looked at, and checked
here for having drawn something.
"""

from __future__ import annotations

import base64
import io
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
ARTIFACTS = ROOT / "data" / "test-artifacts" / "notebooks"

CONFIG = """
[venues.kraken]
symbols = ["BTC/USD", "ETH/USD"]

[venues.coinbase]
symbols = ["BTC-USD", "ETH-USD"]

[venues.alpaca]
symbols = ["BTC/USD", "ETH/USD"]
channels = ["trades", "news"]
"""


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A lake from 12 s of the embedded simulator (the simulated Alpaca accepts any key)."""
    base = tmp_path_factory.mktemp("notebooks")
    config = base / "alphapulse.toml"
    config.write_text(f'lake = "{base / "lake"}"\n{CONFIG}')
    env = {**os.environ, "ALPACA_API_KEY": "simulated", "ALPACA_API_SECRET": "simulated"}
    command = ["collect", "--simulated", "--config", str(config), "--duration", "12"]
    done = subprocess.run(
        [sys.executable, "-m", "alphapulse", *command],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return base / "lake"


def _read(path: Path) -> nbformat.NotebookNode:
    notebook: nbformat.NotebookNode = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]
    return notebook


def _execute(path: Path, lake: Path) -> nbformat.NotebookNode:
    notebook = _read(path)
    # The kernel's environment: the lake, and this checkout first on the path.
    python_path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "ALPHAPULSE_LAKE": str(lake), "PYTHONPATH": python_path}
    client = NotebookClient(
        notebook,
        timeout=180,
        kernel_name="python3",
        resources={"metadata": {"path": str(lake.parent)}},
    )
    client.execute(env=env)
    return notebook


def _figures(notebook: nbformat.NotebookNode) -> list[bytes]:
    return [
        base64.b64decode(output["data"]["image/png"])
        for cell in notebook.cells
        for output in cell.get("outputs", [])
        if "image/png" in output.get("data", {})
    ]


def _drew_something(png: bytes) -> bool:
    """More than axes on white: a line or steps in a colour other than black and grey."""
    import matplotlib.image as mpimg
    import numpy as np

    pixels = mpimg.imread(io.BytesIO(png), format="png")[..., :3]
    rgb = (pixels * 255).astype(np.int16)
    spread = rgb.max(axis=2) - rgb.min(axis=2)  # 0 for white, black and greys
    return int((spread > 60).sum()) > 500


def _text(notebook: nbformat.NotebookNode) -> str:
    parts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            parts.append(output.get("text", ""))
            parts.append(output.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_top_to_bottom(path: Path, lake: Path) -> None:
    notebook = _execute(path, lake)
    figures = _figures(notebook)
    assert figures, f"{path.name} drew no figure"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for i, png in enumerate(figures, start=1):
        (ARTIFACTS / f"{path.stem}-{i}.png").write_bytes(png)
        assert _drew_something(png), f"{path.name}: figure {i} is empty axes"
    text = _text(notebook)
    if path.stem.startswith("03"):
        # The stories were joined to prices: a move in basis points for each.
        assert "No news in this lake" not in text
        assert "move_bps" in text


def test_every_notebook_is_tested() -> None:
    assert [p.stem[:2] for p in NOTEBOOKS] == ["01", "02", "03", "04"]
    for path in NOTEBOOKS:
        notebook = _read(path)
        nbformat.validate(notebook)
        # Committed without outputs: what runs is what a reader sees.
        assert all(not c.get("outputs") for c in notebook.cells if c.cell_type == "code")
        tags = [c.metadata.get("tags", []) for c in notebook.cells]
        assert ["parameters"] in tags, f"{path.name} has no parameters cell for papermill"
