"""pytest-jupyter's fixtures for the server tests only: its autouse fixtures (an event loop
and a ServerApp cleanup per test) would slow every other test down."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from pytest_jupyter.jupyter_core import *  # noqa: F403
from pytest_jupyter.jupyter_server import *  # noqa: F403
from pytest_jupyter.pytest_tornasync import *  # noqa: F403

from alphapulse.control_client import find_control


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    return tmp_path / "lake"


@pytest.fixture  # type: ignore[no-redef]
def jp_server_config(lake: Path) -> dict[str, Any]:
    return {
        "ServerApp": {"jpserver_extensions": {"alphapulse.server": True}},
        "AlphaPulse": {"lake": str(lake), "rate": 300.0},
    }


@pytest.fixture
def running(jp_serverapp: Any, jp_asyncio_loop: asyncio.AbstractEventLoop, lake: Path) -> Any:
    """The server with its extension started (pytest-jupyter does not run the start hook)."""

    async def start() -> None:
        await jp_serverapp.extension_manager.start_all_extensions()
        deadline = time.monotonic() + 60
        while find_control(lake) is None:
            assert time.monotonic() < deadline, "the collector child never came up"
            await asyncio.sleep(0.2)

    jp_asyncio_loop.run_until_complete(start())
    return jp_serverapp
