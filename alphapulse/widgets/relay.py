"""The kernel relay: live items for a chart whose page cannot reach the server's stream.

The front end asks for it with ``{"type": "relay"}`` when the WebSocket to
``/alphapulse/api/stream`` cannot be opened (standalone Voila, another server). The relay
then reads ``alphapulse.live.live_items(lake, specs)`` (the same ITEMs the server streams)
and sends each batch to the widget as ``{"type": "stream", "items": [...]}``.

It runs on a thread with its own event loop rather than on the kernel's: a cell that
computes for a minute would otherwise freeze every live chart of the notebook. Sending
from that thread is safe: ipykernel hands IOPub messages to its IO thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any, Final, Literal

#: An ITEM of the stream (see notes/CONTRACT-8.md): a dict with a "channel".
Item = dict[str, Any]
#: Where live items come from: ``live_items(lake, specs)``; tests pass their own.
Source = Callable[[Path | None, list[dict[str, Any]]], AsyncIterator[list[Item]]]
Send = Callable[[dict[str, Any]], None]

#: Seconds ``stop()`` waits for the relay's thread.
STOP_TIMEOUT: Final = 2.0

log = logging.getLogger(__name__)


def subscriptions(
    kind: Literal["candlestick", "depth"], live: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """The subscribe messages of a chart's ``live_spec`` (the front end's are the same,
    see extension/charts/src/protocol.ts): bars for candles, and the book for their bid/ask
    lines when ``depth`` is set; the book alone for a depth chart."""
    instrument = live.get("instrument")
    if not instrument:
        return []
    book: dict[str, Any] = {"op": "subscribe", "channel": "book", "instrument": instrument}
    if live.get("depth"):
        book["depth"] = live["depth"]
    if kind == "depth":
        return [book]
    bars = {
        "op": "subscribe",
        "channel": "bars",
        "instrument": instrument,
        "interval": live.get("interval") or "1s",
    }
    return [bars, book] if live.get("depth") else [bars]


def default_source() -> Source:
    """``alphapulse.live.live_items``, imported only when a relay starts: the widgets work
    without it until then."""
    from alphapulse.live import live_items

    source: Source = live_items
    return source


class Relay:
    """Sends ``source(lake, specs)``'s batches through ``send`` until stopped."""

    def __init__(
        self, send: Send, source: Source, lake: Path | None, specs: list[dict[str, Any]]
    ) -> None:
        self._send = send
        self._source = source
        self._lake = lake
        self.specs = specs
        self._loop = asyncio.new_event_loop()
        self._task: asyncio.Task[None] | None = None
        self._thread = threading.Thread(
            target=self._run, name="alphapulse-chart-relay", daemon=True
        )
        #: Batches sent so far.
        self.sent = 0

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def start(self) -> None:
        self._task = self._loop.create_task(self._pump())
        self._thread.start()

    def wait(self, timeout: float | None = None) -> bool:
        """Waits for the source to end (or the relay to be stopped); True when it has."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Cancels the relay and waits for its thread (at most ``timeout`` seconds)."""
        task = self._task
        if task is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop already finished and closed
            self._loop.call_soon_threadsafe(task.cancel)
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    def _run(self) -> None:
        assert self._task is not None
        try:
            self._loop.run_until_complete(self._task)
        except asyncio.CancelledError:
            pass
        finally:
            self._loop.close()

    async def _pump(self) -> None:
        items = self._source(self._lake, self.specs)
        self._send({"type": "relay", "state": "started"})
        try:
            async for batch in items:
                if batch:
                    self._send({"type": "stream", "items": batch})
                    self.sent += 1
        except asyncio.CancelledError:
            raise
        except Exception as error:  # the chart says why it stopped; the kernel carries on
            log.warning("chart relay stopped: %s", error, exc_info=True)
            self._send({"type": "error", "message": f"live relay stopped: {error}"})
        finally:
            aclose = getattr(items, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()
            with contextlib.suppress(Exception):
                self._send({"type": "relay", "state": "stopped"})
