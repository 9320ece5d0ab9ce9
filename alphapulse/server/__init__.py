"""The Jupyter server extension: the collector as a supervised background service, a REST
and WebSocket API under ``/alphapulse/api/``, and its metrics on ``/metrics``.

Enabled on install by ``etc/jupyter/jupyter_server_config.d/alphapulse.json`` (shipped in
the wheel's data), so ``jupyter lab``, ``jupyter server`` and Voila's server extension load
it. Configured as ``c.AlphaPulse.*`` (see ``alphapulse.server.app``).
"""

from __future__ import annotations

from typing import Any


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from alphapulse.server.app import AlphaPulse

    return [{"module": "alphapulse.server.app", "app": AlphaPulse}]
