"""What both dashboards share: the collector's voice in the kernel, and the pace of redraws.

``CollectorFeed`` runs on the kernel's own event loop (Voila leaves it idle once the notebook
has run; a task there needs no thread and no lock around the widgets). It finds the
collector of a lake from its status file (``find_control``, as a chart's kernel relay does),
asks for its ``status`` every ``period`` seconds on one connection and, on a second one,
subscribes to its live channel (trades, news). When there is no collector yet, or it goes
away (the server restarts a collector that died), it says so and tries again every second.

``Coalescer`` turns any number of changes into at most one render per ``period``: the
render reads the latest state, so a burst of updates costs one redraw and nothing queues
(a render that falls behind is not caught up, the next one simply comes later).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final, TypeVar

from alphapulse.control_client import ControlClient, ControlError, find_control

log = logging.getLogger("alphapulse.dashboards")

_T = TypeVar("_T")

#: Seconds between two looks for a collector that is not (yet) there.
RETRY_SECONDS: Final = 1.0


def kernel_loop() -> asyncio.AbstractEventLoop:
    """The running event loop a dashboard's tasks go on: a Jupyter kernel's (Voila's too)."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        raise RuntimeError(
            "a dashboard runs on an event loop: display it in a Jupyter kernel (a notebook, "
            "Voila), or make it inside a coroutine"
        ) from None


class FeedListener:
    """What a dashboard hears from its feed; each method is called on the event loop."""

    def on_state(self, connected: bool, message: str) -> None:
        """Connected to the collector, or not (``message`` says why)."""

    def on_instruments(self, instruments: list[dict[str, Any]]) -> None:
        """The collector's instruments (its ``instruments`` answer), once per connection."""

    def on_status(self, status: dict[str, Any]) -> None:
        """The collector's status, every ``period``."""

    def on_trades(self, instrument: str, rows: list[dict[str, Any]]) -> None:
        """Trades of the live channel (``time`` the venue's, ``recv`` ours, ms)."""

    def on_news(self, rows: list[dict[str, Any]]) -> None:
        """Stories of the live channel."""


class CollectorFeed:
    """``listener`` hears the collector of ``lake``; ``trades``: subscribe to every
    instrument's trades, ``news``: to the stories; ``period``: seconds between statuses
    (0: no status polling)."""

    def __init__(
        self,
        lake: Path,
        listener: FeedListener,
        *,
        period: float = 0.1,
        trades: bool = False,
        news: bool = False,
    ) -> None:
        self.lake = lake
        self.listener = listener
        self.period = period
        self.trades = trades
        self.news = news
        self._task: asyncio.Task[None] | None = None
        #: Statuses received so far (the tests and the benchmark read it).
        self.statuses = 0

    def start(self) -> None:
        if self._task is None:
            self._task = kernel_loop().create_task(self._run())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _run(self) -> None:
        said = ""
        while True:
            path = find_control(self.lake)
            if path is None:
                message = f"waiting for a collector on {self.lake}"
            else:
                try:
                    await self._serve(path)
                    message = "the collector went away"
                except ControlError as e:
                    message = f"the collector went away: {e}"
                except (OSError, ValueError) as e:  # a reply we cannot read: say it, go on
                    message = f"the collector's answer was not understood: {e}"
                    log.warning("dashboard feed: %s", message, exc_info=True)
            if message != said:
                self.listener.on_state(False, message)
                said = message
            await asyncio.sleep(RETRY_SECONDS)

    async def _serve(self, path: Path) -> None:
        """One session with the collector: its status polled and its live channel read
        until either ends (the collector went away); the caller starts the next."""
        async with ControlClient(path, timeout=5.0) as client:
            instruments = await client.call("instruments")
            self.listener.on_instruments(instruments)
            self.listener.on_state(True, f"collector on {self.lake}")
            tasks = []
            if self.period > 0:
                tasks.append(asyncio.create_task(self._poll(client)))
            if self.trades or self.news:
                names = sorted({i["instrument"] for i in instruments}) if self.trades else []
                tasks.append(asyncio.create_task(self._live(path, names)))
            if not tasks:
                return
            try:
                done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    task.result()  # its ControlError says why
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

    async def _poll(self, client: ControlClient) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()
        while True:
            status = await client.call("status")
            self.statuses += 1
            self.listener.on_status(status)
            due += self.period
            if due < loop.time():  # fell behind: no catching up, the next one in a period
                due = loop.time() + self.period
            await asyncio.sleep(due - loop.time())

    async def _live(self, path: Path, trades: list[str]) -> None:
        """The live channel on a connection of its own, until the collector goes away."""
        async with ControlClient(path, timeout=5.0) as client:
            await client.subscribe(trades=trades, news=self.news)
            async for update in client.updates():
                self._dispatch(update.get("items") or [])

    def _dispatch(self, items: Sequence[Mapping[str, Any]]) -> None:
        for item in items:
            if item.get("channel") == "trades":
                self.listener.on_trades(str(item["instrument"]), list(item.get("rows") or []))
            elif item.get("channel") == "news":
                self.listener.on_news(list(item.get("rows") or []))


class Coalescer:
    """Calls ``render`` at most once per ``period``, and only after ``changed()``."""

    def __init__(self, render: Callable[[], None], period: float) -> None:
        self.render = render
        self.period = period
        self.renders = 0
        self._dirty = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._last = -float("inf")

    def changed(self) -> None:
        self._dirty.set()

    def start(self) -> None:
        if self._task is None:
            self._task = kernel_loop().create_task(self._run())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _run(self) -> None:
        while True:
            await self._dirty.wait()
            wait = self._last + self.period - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)  # changes meanwhile join this render
            self._dirty.clear()
            self._last = time.monotonic()
            try:
                self.render()
            except Exception:  # a bad render must not end the dashboard's updates
                log.exception("dashboard render failed")
            self.renders += 1


async def poll_in_thread(
    period: float,
    work: Callable[[], _T],
    done: Callable[[_T], None],
    failed: Callable[[Exception], None],
) -> None:
    """``work`` (blocking: a lake scan, a DuckDB query) in the loop's executor every
    ``period`` seconds, its result to ``done`` or its error to ``failed``, on the loop."""
    loop = asyncio.get_running_loop()
    while True:
        try:
            result = await loop.run_in_executor(None, work)
        except Exception as e:
            failed(e)
        else:
            done(result)
        await asyncio.sleep(period)
