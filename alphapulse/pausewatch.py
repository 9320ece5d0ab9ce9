"""Recognise the collector's own pauses: SIGSTOP, a debugger, a machine starved of CPU.

While the process is stopped nothing it measures moves, but the monotonic clock does: a
task that ticks every ``tick`` seconds and sees the clock jump by much more was not
running. Such a pause is not the venues' silence, so the stall and quiet watchdogs measure
silence from the end of the last pause (:attr:`PauseWatch.resumed_at`) instead of blaming
every connection at once. A pause is reported once, with its length.

Every watchdog calls :meth:`PauseWatch.check` before it judges, so whichever task the loop
runs first after a pause recognises it: the order of timers that all expired together does
not decide between "the process paused" and "every venue stalled".
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

#: How often the watch ticks (seconds).
TICK_SECONDS = 0.5
#: A jump of the clock between ticks beyond this is a pause of the process (seconds): well
#: above what a loaded machine delays a 0.5 s timer, well below any stall limit.
PAUSE_SECONDS = 3.0


class PauseWatch:
    def __init__(
        self,
        on_pause: Callable[[float], None],
        *,
        tick: float = TICK_SECONDS,
        threshold: float = PAUSE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._on_pause = on_pause
        self.tick = tick
        self.threshold = threshold
        self._clock = clock
        self._last = clock()
        #: The clock when the last pause ended (0.0: none seen); silence starts no earlier.
        self.resumed_at = 0.0
        self.pauses = 0

    def check(self) -> float:
        """Note that the process runs now; the pause that just ended (seconds), or 0.0."""
        now = self._clock()
        gap = now - self._last
        self._last = now
        # A watch tick and the watchdogs all call this: only a gap beyond a tick counts.
        if gap - self.tick <= self.threshold:
            return 0.0
        self.resumed_at = now
        self.pauses += 1
        self._on_pause(gap)
        return gap

    def since(self, moment: float) -> float:
        """``moment`` (a clock reading), or the end of the last pause if that is later."""
        return max(moment, self.resumed_at)

    async def run(self) -> None:
        self._last = self._clock()
        while True:
            await asyncio.sleep(self.tick)
            self.check()
