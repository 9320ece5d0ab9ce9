"""REST snapshots within a venue's request-weight limit (Binance, Binance.US).

Binance counts request weight per IP, not per process, in fixed windows of a minute, and
reports the IP's total for the current window on every response (``X-MBX-USED-WEIGHT-1M``).
Over the limit it answers 429 with ``Retry-After`` (seconds); an IP that keeps asking after
429s is banned, answered 418 with ``Retry-After`` until the ban ends (2 minutes to 3 days)
(Binance spot REST API, "LIMITS"). So :class:`RestClient`:

- spends each request's weight from an ``aiolimiter`` budget, our own pace;
- before a request, waits for the window to roll when the venue's last count for this window
  and the request's weight are over the limit, however little we spent ourselves: other
  processes on the IP spend from the same limit;
- on 429 or 418 waits ``Retry-After``, and holds every other request with it, then retries.

>>> import asyncio
>>> async def main() -> int:
...     client = RestClient(6000)
...     await client.aclose()
...     return client.weight_per_minute
>>> asyncio.run(main())
6000
"""

from __future__ import annotations

import asyncio
import logging
import time

import httpx
from aiolimiter import AsyncLimiter

log = logging.getLogger("alphapulse.rest")

USED_WEIGHT_HEADER = "X-MBX-USED-WEIGHT-1M"
#: Statuses that say "not now": 429 over the limit, 418 banned for not backing off.
BACK_OFF = (418, 429)


class SnapshotError(OSError):
    """A snapshot that could not be fetched; the caller counts it and resyncs later."""


def _count(header: str | None) -> int | None:
    """A header's non-negative integer (ASCII digits: ``"²".isdigit()`` is true but not
    ``int``'s), else None."""
    if header is None or not header.isascii() or not header.isdigit():
        return None
    return int(header)


class RestClient:
    """A :class:`~alphapulse.venues.base.SnapshotFetcher` over one ``httpx.AsyncClient``.

    ``interval`` is the venue's weight window (a minute; shorter in tests, as the
    simulator's can be). ``max_attempts`` bounds the 429/418 retries of one request.
    """

    def __init__(
        self,
        weight_per_minute: int,
        *,
        timeout: float = 10.0,
        interval: float = 60.0,
        max_attempts: int = 5,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if weight_per_minute <= 0:
            raise ValueError(f"weight_per_minute must be positive, not {weight_per_minute}")
        self.weight_per_minute = weight_per_minute
        self.interval = interval
        self.max_attempts = max_attempts
        self._budget = AsyncLimiter(weight_per_minute, interval)
        self._http = httpx.AsyncClient(timeout=timeout, transport=transport)
        #: The venue's count for the IP in window ``_window`` (its last report, plus what
        #: we sent since).
        self._window = -1
        self._used = 0
        #: Loop-independent wall time before which no request is sent (Retry-After).
        self._blocked_until = 0.0
        #: 429s and 418s received, and seconds spent waiting on the venue's count.
        self.throttled = 0
        self.banned = 0
        self.waited = 0.0

    def _window_of(self, now: float) -> int:
        return int(now // self.interval)

    async def _venue_allows(self, weight: int) -> None:
        """Wait until the venue's count leaves room for ``weight``, then reserve it."""
        while True:
            now = time.time()
            window = self._window_of(now)
            wait = self._blocked_until - now
            if (
                wait <= 0
                and window == self._window
                and self._used + weight > self.weight_per_minute
            ):
                # A little past the roll: the venue's clock is not ours.
                wait = (window + 1) * self.interval - now + self.interval / 60
            if wait <= 0:
                if window != self._window:
                    self._window, self._used = window, 0
                self._used += weight
                return
            self.waited += wait
            await asyncio.sleep(wait)

    def _observe(self, response: httpx.Response) -> None:
        """Take the venue's count for the IP (ours and every other process's)."""
        reported = _count(response.headers.get(USED_WEIGHT_HEADER))
        if reported is None:
            return
        window = self._window_of(time.time())
        if window != self._window:
            self._window, self._used = window, reported
        else:
            self._used = max(self._used, reported)

    def _back_off(self, response: httpx.Response, url: str) -> None:
        retry_after = _count(response.headers.get("Retry-After"))
        now = time.time()
        if retry_after is not None:
            until = now + retry_after
        else:  # none given: the rest of the window
            until = (self._window_of(now) + 1) * self.interval
        self._blocked_until = max(self._blocked_until, until)
        if response.status_code == 418:
            self.banned += 1
            log.error("%s: IP banned by the venue for %.0f s", url, until - now)
        else:
            self.throttled += 1
            log.warning("%s: over the request weight, waiting %.0f s", url, until - now)

    async def get(self, url: str, weight: int) -> bytes:
        """The body of ``GET url``, spending ``weight``; SnapshotError when it fails."""
        for _ in range(self.max_attempts):
            await self._budget.acquire(min(max(weight, 1), self.weight_per_minute))
            await self._venue_allows(weight)
            try:
                response = await self._http.get(url)
            except httpx.HTTPError as e:
                raise SnapshotError(f"{url}: {type(e).__name__}: {e}") from None
            self._observe(response)
            if response.status_code in BACK_OFF:
                self._back_off(response, url)
                continue
            if response.status_code != 200:
                raise SnapshotError(f"{url}: HTTP {response.status_code}: {response.text[:200]}")
            return response.content
        raise SnapshotError(f"{url}: still refused after {self.max_attempts} attempts")

    async def aclose(self) -> None:
        await self._http.aclose()
