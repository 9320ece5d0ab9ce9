"""The server names its lake in the environment its kernels inherit (``$ALPHAPULSE_LAKE``), so
a Voila dashboard under ``/voila/render/voila_apps/`` and ``alphapulse.connect()`` in any
notebook find the server's lake and collector from whatever directory they run in; stopping
the extension gives the process its environment back."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from alphapulse.query.session import default_lake
from alphapulse.server.app import LAKE_ENV


@pytest.fixture(autouse=True)
def no_lake_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(LAKE_ENV, raising=False)  # before the server starts


@pytest.fixture
def jp_server_config(lake: Path) -> dict[str, Any]:
    # Nothing started: the environment is set when the extension loads.
    return {
        "ServerApp": {"jpserver_extensions": {"alphapulse.server": True}},
        "AlphaPulse": {"lake": str(lake), "autostart": False, "reports": False},
    }


def test_kernels_inherit_the_servers_lake_and_the_stop_restores_it(
    jp_serverapp: Any,
    jp_asyncio_loop: asyncio.AbstractEventLoop,
    lake: Path,
) -> None:
    assert os.environ[LAKE_ENV] == str(lake.absolute())
    assert default_lake() == lake.absolute()  # what a kernel's alphapulse.connect() opens
    jp_asyncio_loop.run_until_complete(jp_serverapp.extension_manager.stop_all_extensions())
    assert LAKE_ENV not in os.environ  # it was not set before the server
