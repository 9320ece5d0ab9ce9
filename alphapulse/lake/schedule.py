"""Compaction on a schedule, in a thread of its own: the collector's (``compact_every``).

Each run is reported as an event: ``compaction`` with the report's figures, or
``compaction_failed`` with the reason (another compaction holding the lake, a full disk);
a failed run is retried at the next interval, and collection goes on either way.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from alphapulse.lake.compact import compact

log = logging.getLogger(__name__)

#: ``on_event(kind, detail)``; called on the schedule's thread.
OnEvent = Callable[[str, dict[str, Any]], None]


class CompactionSchedule:
    """``compact(root, older_than=...)`` every ``every`` seconds until ``stop``.

    One merge at a time (``workers=1``): the collector's event loop keeps the other core,
    and memory holds one group. ``stop`` lets the merge under way finish (the swap is never
    cut short by us; a kill would be repaired by the next run) and skips the rest.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        every: float,
        older_than: float,
        on_event: OnEvent,
    ) -> None:
        if every <= 0 or older_than < 0:
            raise ValueError("every must be above 0 and older_than not negative")
        self.root = Path(root)
        self.every = every
        self.older_than = timedelta(seconds=older_than)
        self.on_event = on_event
        self.runs = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="lake-compaction", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Stop after the merge under way; returns when the thread has ended."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            self.run_once()

    def run_once(self) -> None:
        try:
            report = compact(
                self.root, older_than=self.older_than, workers=1, stop=self._stop.is_set
            )
        except Exception as exc:  # any failure is an event: the collector must go on
            log.warning("lake compaction failed: %s", exc)
            self.on_event("compaction_failed", {"error": str(exc) or type(exc).__name__})
        else:
            detail = report.to_json()
            detail["seconds"] = round(report.seconds, 3)
            self.on_event("compaction", detail)
        self.runs += 1
