"""A client of a running collector's control endpoint (``alphapulse.control``).

::

    path = find_control(Path("data/lake"))          # from the collector's status file
    async with ControlClient(path) as c:
        status = await c.call("status")
        top = await c.call("book_top", instrument="kraken:BTC/USD", depth=10)

    async with ControlClient(path) as c:            # a live subscription: its own connection
        await c.subscribe(trades=["kraken:BTC/USD"], books={"kraken:BTC/USD": 10})
        async for update in c.updates():            # {"dropped": n, "items": [...]}
            ...
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from pathlib import Path
from types import TracebackType
from typing import Any

import orjson

from alphapulse.control import MAX_LINE
from alphapulse.status import StatusFileError, read_status

#: How long closing the connection may wait for its last bytes to leave.
CLOSE_SECONDS = 1.0


class ControlError(Exception):
    """The collector refused a request (its one-line reason)."""


class ControlUnavailableError(ControlError):
    """No collector answers on that socket (not running, or it went away)."""


class ControlTimeoutError(ControlError):
    """The collector did not answer in time."""


def find_control(lake: Path) -> Path | None:
    """The control socket of the collector running on ``lake``, or None."""
    try:
        status = read_status(lake)
    except StatusFileError:
        return None
    if status is None or not isinstance(status.get("control"), str):
        return None
    return Path(status["control"])


class ControlClient:
    """One connection; calls may be concurrent (answers are matched by id)."""

    def __init__(self, path: Path, *, timeout: float = 10.0) -> None:
        self.path = path
        self.timeout = timeout
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self._updates: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(maxsize=256)
        #: Updates thrown away because ``updates()`` was not read fast enough.
        self.dropped = 0
        self._reading: asyncio.Task[None] | None = None

    @property
    def connected(self) -> bool:
        return self._reading is not None and not self._reading.done()

    async def connect(self) -> ControlClient:
        try:
            self._reader, self._writer = await asyncio.wait_for(
                asyncio.open_unix_connection(str(self.path), limit=64 * MAX_LINE), self.timeout
            )
        except (OSError, TimeoutError) as e:
            raise ControlUnavailableError(f"no collector at {self.path}: {e}") from None
        self._reading = asyncio.create_task(self._read())
        return self

    async def __aenter__(self) -> ControlClient:
        return await self.connect()

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._reading is not None:
            self._reading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reading
            self._reading = None
        if self._writer is not None:
            self._writer.close()
            # Bounded: a transport closing with unsent bytes waits for the peer to read them,
            # and a collector that no longer reads must not hold up a server's shutdown.
            try:
                await asyncio.wait_for(self._writer.wait_closed(), CLOSE_SECONDS)
            except OSError:
                pass
            except TimeoutError:
                self._writer.transport.abort()
            self._writer = None

    async def call(self, op: str, **args: Any) -> Any:
        if self._writer is None or self._reading is None or self._reading.done():
            raise ControlUnavailableError(f"not connected to {self.path}")
        request_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = future
        try:
            self._writer.write(orjson.dumps({"id": request_id, "op": op, **args}) + b"\n")
            await self._writer.drain()
            return await asyncio.wait_for(future, self.timeout)
        except TimeoutError:
            raise ControlTimeoutError(
                f"{op}: no answer from the collector in {self.timeout} s"
            ) from None
        except OSError as e:
            raise ControlUnavailableError(f"the collector at {self.path} went away: {e}") from None
        finally:
            self._waiting.pop(request_id, None)

    async def subscribe(
        self,
        *,
        trades: list[str] | None = None,
        books: dict[str, int] | None = None,
        news: bool = False,
    ) -> dict[str, Any]:
        """Replace this connection's live subscription; updates arrive in ``updates()``."""
        result: dict[str, Any] = await self.call(
            "subscribe", trades=trades or [], books=books or {}, news=news
        )
        return result

    async def updates(self) -> AsyncIterator[dict[str, Any]]:
        """The pushed updates until the collector goes away."""
        while True:
            update = await self._updates.get()
            if update is None:
                return
            yield update

    async def _read(self) -> None:
        assert self._reader is not None
        try:
            while True:
                line = await self._reader.readline()
                if not line:
                    break
                message = orjson.loads(line)
                if "push" in message:
                    if self._updates.full():  # a consumer that fell behind: newest wins
                        self._updates.get_nowait()
                        self.dropped += 1
                    self._updates.put_nowait(message)
                    continue
                future = self._waiting.get(message.get("id"))
                if future is None or future.done():
                    continue
                if message.get("ok"):
                    future.set_result(message.get("result"))
                else:
                    future.set_exception(ControlError(str(message.get("error"))))
        except (OSError, ValueError, asyncio.IncompleteReadError):
            pass
        finally:
            gone = ControlUnavailableError(f"the collector at {self.path} went away")
            for future in self._waiting.values():
                if not future.done():
                    future.set_exception(gone)
            with contextlib.suppress(asyncio.QueueFull):
                if self._updates.full():
                    self._updates.get_nowait()
                self._updates.put_nowait(None)
