"""Where a dashboard's lake is, and one running dashboard of each kind per kernel.

The lake: the notebook's ``lake`` parameter, else ``$ALPHAPULSE_LAKE``, which the AlphaPulse
server extension sets for the kernels it starts (so a dashboard under ``/voila/render/``
finds the server's collector whatever directory the notebook runs in), else the default
``data/lake``.

A cell run again (in Lab) makes a new dashboard: the one before stops, so its polling does
not go on, unseen, for as long as the kernel lives.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol


class Dashboard(Protocol):
    def close(self) -> None: ...


_running: dict[str, Dashboard] = {}


def register(kind: str, dashboard: Dashboard) -> None:
    previous = _running.get(kind)
    _running[kind] = dashboard
    if previous is not None and previous is not dashboard:
        previous.close()


def resolve_lake(lake: str | Path | None) -> Path:
    from alphapulse.query.session import default_lake

    return (Path(lake).expanduser() if lake else default_lake()).absolute()
