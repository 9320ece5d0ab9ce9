"""The collector's metrics on the Jupyter server's own ``/metrics``.

jupyter_server serves ``prometheus_client``'s global registry at ``/metrics`` (with its
authentication: ``ServerApp.authenticate_prometheus``, on by default). The collector runs
in a child with a registry of its own, so this bridge registers one custom collector in
the global registry that yields the child's families as last fetched (every
``refresh_seconds`` over the control socket): a scrape never waits on the child.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

from prometheus_client import REGISTRY
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from alphapulse.control_client import ControlError
from alphapulse.server.supervisor import CollectorSupervisor


class CollectorMetricsBridge:
    def __init__(self, supervisor: CollectorSupervisor, refresh_seconds: float = 2.0) -> None:
        self.supervisor = supervisor
        self.refresh_seconds = refresh_seconds
        self.families: list[Metric] = []
        self._task: asyncio.Task[None] | None = None
        self._registered = False

    def collect(self) -> Iterator[Metric]:
        yield from self.families

    def describe(self) -> list[Any]:
        return []  # families change with the venues: no fixed description

    def start(self) -> None:
        if not self._registered:
            REGISTRY.register(self)
            self._registered = True
        self._task = asyncio.create_task(self._refresh())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._registered:
            REGISTRY.unregister(self)
            self._registered = False

    async def _refresh(self) -> None:
        while True:
            try:
                text = await self.supervisor.call("metrics")
                self.families = list(text_string_to_metric_families(text))
            except ControlError:
                self.families = []  # no collector: no stale figures either
            await asyncio.sleep(self.refresh_seconds)
