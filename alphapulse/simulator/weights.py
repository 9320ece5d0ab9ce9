"""Binance's REST request-weight limit, as the simulator enforces it for one IP.

Every client of a simulated exchange comes from loopback, one IP, so they share one limit,
as processes on one host share Binance's. Weight is counted in fixed windows (a minute, the
``REQUEST_WEIGHT`` ``MINUTE`` limit); every answer carries the window's count in
``X-MBX-USED-WEIGHT-1M``. A request over the limit is refused with 429 and ``Retry-After``
(the seconds left in the window) and is not counted. Asking again before that time is not
backing off: after ``ban_after`` such requests the IP is banned, 418 with ``Retry-After``
until the ban ends; bans last two windows (2 minutes) and double for a repeat offender, up to
3 days, as Binance documents (spot REST API, "LIMITS"; errors, -1003).

>>> limit = WeightLimit(10, interval=60.0)
>>> limit.charge(8, now=0.0) is None, limit.used_header(now=0.0)
(True, {'X-MBX-USED-WEIGHT-1M': '8'})
>>> status, body, headers = limit.charge(5, now=1.0)
>>> status, body["code"], headers["Retry-After"]
(429, -1003, '59')
"""

from __future__ import annotations

import math
import time

#: A refusal: HTTP status, JSON body, headers.
Refusal = tuple[int, dict[str, object], dict[str, str]]

USED_WEIGHT_HEADER = "X-MBX-USED-WEIGHT-1M"
MAX_BAN_SECONDS = 3 * 86400.0


class WeightLimit:
    def __init__(self, limit: int, *, interval: float = 60.0, ban_after: int = 2) -> None:
        self.limit = limit
        #: The window's length: a minute on Binance; tests shorten it.
        self.interval = interval
        self.ban_after = ban_after
        self._window = -1
        self.used = 0
        #: Until when a 429's Retry-After asks the IP to wait, and who did not.
        self._retry_at = 0.0
        self._ignored = 0
        self._banned_until = 0.0
        self._bans = 0
        #: Answers given, for tests: 429s and 418s.
        self.refused = 0
        self.banned = 0

    def _roll(self, now: float) -> None:
        window = int(now // self.interval)
        if window != self._window:
            self._window, self.used = window, 0

    def used_header(self, now: float | None = None) -> dict[str, str]:
        self._roll(time.time() if now is None else now)
        return {USED_WEIGHT_HEADER: str(self.used)}

    def charge(self, weight: int, now: float | None = None) -> Refusal | None:
        """Count a request's weight; the 429 or 418 that refuses it, if it is refused."""
        now = time.time() if now is None else now
        self._roll(now)
        if now < self._banned_until:
            return self._ban_answer(now)
        if now < self._retry_at:
            # Asked again before Retry-After: not backing off.
            self._ignored += 1
            if self._ignored >= self.ban_after:
                ban = min(2 * self.interval * 2**self._bans, MAX_BAN_SECONDS)
                self._bans += 1
                self._ignored = 0
                self._banned_until = now + ban
                return self._ban_answer(now)
            return self._too_many(now)
        if self.used + weight > self.limit:
            self._retry_at = (self._window + 1) * self.interval
            return self._too_many(now)
        self.used += weight
        return None

    def _too_many(self, now: float) -> Refusal:
        self.refused += 1
        body: dict[str, object] = {
            "code": -1003,
            "msg": f"Too much request weight used; current limit is {self.limit} request "
            "weight per 1 MINUTE. Please use WebSocket Streams for live updates to avoid "
            "polling the API.",
        }
        return 429, body, self._headers(self._retry_at - now, now)

    def _ban_answer(self, now: float) -> Refusal:
        self.banned += 1
        body: dict[str, object] = {
            "code": -1003,
            "msg": f"Way too much request weight used; IP banned until "
            f"{int(self._banned_until * 1000)}. Please use WebSocket Streams for live updates "
            "to avoid bans.",
        }
        return 418, body, self._headers(self._banned_until - now, now)

    def _headers(self, wait: float, now: float) -> dict[str, str]:
        return {**self.used_header(now), "Retry-After": str(max(1, math.ceil(wait)))}
