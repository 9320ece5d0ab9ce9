"""The default REST snapshot fetcher, for a venue that brings none (``Venue.make_fetcher``).

Binance documents a request-weight budget per rolling minute (6000 for binance.com, 1200
for Binance.US); a depth snapshot of 1000 levels weighs 50. This fetcher keeps within it on
its own count; a venue's own client (``alphapulse.rest``) also reads the venue's used-weight
header and honours ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import time

import httpx


class WeightBudget:
    """A venue's REST request weight per rolling minute."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._spent: list[tuple[float, int]] = []

    async def spend(self, weight: int) -> None:
        while True:
            now = time.monotonic()
            self._spent = [(t, w) for t, w in self._spent if now - t < 60.0]
            if sum(w for _, w in self._spent) + weight <= self.per_minute:
                self._spent.append((now, weight))
                return
            await asyncio.sleep(60.0 - (now - self._spent[0][0]))


class BudgetFetcher:
    """GET within a per-minute weight budget (none when ``weight_per_minute`` is 0).

    Errors are ``httpx.HTTPError`` (transport, timeout, or a status of 400 and above).
    """

    def __init__(self, weight_per_minute: int, *, timeout: float = 10.0) -> None:
        self._budget = WeightBudget(weight_per_minute) if weight_per_minute else None
        self._client = httpx.AsyncClient(timeout=timeout)

    async def get(self, url: str, weight: int) -> bytes:
        if self._budget is not None:
            await self._budget.spend(weight)
        response = await self._client.get(url)
        response.raise_for_status()
        return response.content

    async def aclose(self) -> None:
        await self._client.aclose()
