"""Collector metrics in a prometheus_client registry of the service's own (no globals)."""

from __future__ import annotations

import resource
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 1e-2, 0.1)


class CollectorMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.frames = Counter("alphapulse_frames", "Frames received", ["venue"], registry=r)
        self.events = Counter(
            "alphapulse_events", "Events normalized", ["venue", "table"], registry=r
        )
        self.wire_to_book = Histogram(
            "alphapulse_wire_to_book_seconds",
            "From frame receipt to book applied",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.integrity = Counter(
            "alphapulse_integrity",
            "Gaps, checksum failures, resyncs needed…",
            ["venue", "kind"],
            registry=r,
        )
        self.resyncs = Counter("alphapulse_resyncs", "Resyncs started", ["venue"], registry=r)
        self.rejects = Counter("alphapulse_rejects", "Frames rejected", ["venue"], registry=r)
        self.connects = Counter("alphapulse_connects", "Connections opened", ["venue"], registry=r)
        self.disconnects = Counter(
            "alphapulse_disconnects", "Connections lost", ["venue"], registry=r
        )
        self.queue_depth = Gauge(
            "alphapulse_sink_queue_depth", "Batches waiting for the lake writer", registry=r
        )
        self.bytes_written = Gauge(
            "alphapulse_lake_bytes_written", "Bytes committed to the lake", registry=r
        )
        self.pending = Gauge(
            "alphapulse_engine_pending_events",
            "Events not yet handed to the sink",
            ["venue"],
            registry=r,
        )
        self.rss = Gauge("alphapulse_rss_bytes", "Peak resident set size", registry=r)
        self.rss.set_function(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)

    def watch_buffer(self, stats: Callable[[], dict[str, Any]]) -> None:
        """Gauges of the PostgreSQL buffer's feed (``BufferFeed.stats``): up or not, its
        queue, and its rows written, dropped (while down or slow), caught up from the lake
        and refused."""
        r = self.registry
        up = Gauge("alphapulse_buffer_up", "1 while the PostgreSQL buffer takes writes", registry=r)
        up.set_function(lambda: float(stats()["state"] == "up"))
        queued = Gauge(
            "alphapulse_buffer_queue_bytes", "Arrow bytes waiting for the buffer", registry=r
        )
        queued.set_function(lambda: float(stats()["queue_bytes"]))
        rows = Gauge("alphapulse_buffer_rows", "Rows by outcome", ["outcome"], registry=r)

        def count(key: str) -> Callable[[], float]:
            return lambda: float(stats()[key])

        for outcome in ("written", "dropped", "caught_up", "failed"):
            rows.labels(outcome).set_function(count(f"rows_{outcome}"))

    def wire_to_book_quantile(self, q: float) -> float | None:
        """An upper bound of the ``q`` quantile of wire-to-book latency (seconds), from the
        histogram's buckets; None before any frame."""
        sample = self.registry.get_sample_value
        total = sample("alphapulse_wire_to_book_seconds_count") or 0.0
        if not total:
            return None
        for bound in LATENCY_BUCKETS:
            below = sample("alphapulse_wire_to_book_seconds_bucket", {"le": str(bound)}) or 0.0
            if below / total >= q:
                return bound
        return float("inf")
