"""pytest-jupyter's fixtures for the server tests only: its autouse fixtures (an event loop
and a ServerApp cleanup per test) would slow every other test down."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pytest_jupyter.jupyter_core import *  # noqa: F403
from pytest_jupyter.jupyter_server import *  # noqa: F403
from pytest_jupyter.pytest_tornasync import *  # noqa: F403


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    return tmp_path / "lake"


@pytest.fixture  # type: ignore[no-redef]
def jp_server_config(lake: Path) -> dict[str, Any]:
    return {
        "ServerApp": {"jpserver_extensions": {"alphapulse.server": True}},
        "AlphaPulse": {"lake": str(lake), "rate": 300.0},
    }
