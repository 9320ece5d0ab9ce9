"""Fault injection: what goes wrong on a simulated connection, deterministically.

A :class:`FaultPlan` counts *market-data* frames (snapshots and updates): subscribe acks,
heartbeats and status frames are never dropped, skipped or corrupted, so a client can always
subscribe, but they wait behind a stall or a delay like everything else, as on one TCP
stream. By default a plan applies to the first connection only, so a client that reconnects
recovers.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Container
from dataclasses import dataclass, fields

#: A queued frame: when it may be written (loop time, 0 = now) and its payload; ``None``
#: stands for "abort the connection here".
Queued = tuple[float, bytes | None]

_GARBAGE = b"{}[],:\"'#@!~?%&*^$qzxjk0123456789 "


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """Faults for one connection, counted in market-data frames (the first is frame 1).

    >>> FaultPlan.parse("drop_after=500,skip_every=50,connections=0;1")
    FaultPlan(drop_after=500, skip_every=50, connections=(0, 1))
    """

    #: Abort the TCP connection (no close frame) after this many frames.
    drop_after: int | None = None
    #: After this many frames, send nothing for ``stall_seconds``; the socket stays open and
    #: what the venue produced meanwhile arrives late, in order.
    stall_after: int | None = None
    stall_seconds: float = 5.0
    #: Every n-th frame, and everything behind it, is held ``delay_seconds`` (``delay_every=1``
    #: is a constant latency).
    delay_every: int | None = None
    delay_seconds: float = 0.05
    #: Every n-th frame is not sent: a sequence number or checksum then reveals the loss.
    skip_every: int | None = None
    #: Every n-th frame is sent twice.
    duplicate_every: int | None = None
    #: Every n-th frame is cut short and ends in garbage (still UTF-8 text; never valid JSON).
    corrupt_every: int | None = None
    #: After every n-th frame, a message of a type the venue's clients do not know.
    unknown_every: int | None = None
    #: Connection indexes the plan applies to, in accept order (0 = first); None: every one.
    connections: tuple[int, ...] | None = (0,)
    seed: int = 0

    def applies_to(self, index: int) -> bool:
        return self.connections is None or index in self.connections

    def __repr__(self) -> str:
        changed = [
            f"{f.name}={getattr(self, f.name)!r}"
            for f in fields(self)
            if getattr(self, f.name) != f.default
        ]
        return f"FaultPlan({', '.join(changed)})"

    def __post_init__(self) -> None:
        """Counts below 1 and negative or endless seconds mean nothing (``skip_every=0``
        would skip nothing, ``drop_after=-1`` drop at the first frame): refused."""
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name.endswith(("_after", "_every")):
                if value is not None and value < 1:
                    raise ValueError(f"{f.name} must be 1 or more, not {value}")
            elif f.name.endswith("_seconds") and not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{f.name} must be a finite number, 0 or above, not {value}")
        if self.connections is not None:
            if not self.connections:
                raise ValueError("connections: none given (give 0;1 or all)")
            if bad := [i for i in self.connections if i < 0]:
                raise ValueError(f"connections: not a connection index: {bad[0]}")

    @classmethod
    def parse(cls, text: str) -> FaultPlan:
        """``name=value`` pairs separated by commas; ``connections`` takes ``0;1`` or ``all``.
        A value that does not fit raises ValueError, with a message for the command line."""
        values: dict[str, object] = {}
        known = {f.name: f for f in fields(cls)}
        for item in filter(None, (part.strip() for part in text.split(","))):
            name, sep, value = item.partition("=")
            name = name.strip()
            if not sep or name not in known:
                raise ValueError(f"bad fault {item!r}; expected name=value, one of {list(known)}")
            value = value.strip()
            if name == "connections":
                values[name] = (
                    None
                    if value == "all"
                    else tuple(
                        _integer(name, v, "not a connection index")
                        for v in value.replace(";", " ").split()
                    )
                )
            elif name.endswith("_seconds"):
                try:
                    values[name] = float(value)
                except ValueError:
                    raise ValueError(f"{name}: not a number: {value!r}") from None
            else:
                values[name] = _integer(name, value, "not an integer")
        return cls(**values)  # type: ignore[arg-type]


def _integer(name: str, text: str, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{name}: {what}: {text!r}") from None
    return value


class FaultState:
    """A plan applied to one connection's frames, in the order they are produced."""

    def __init__(self, plan: FaultPlan, index: int, unknown: Callable[[], bytes]) -> None:
        self.plan = plan
        self.frames = 0
        self.hold_until = 0.0
        self.dropped = False
        self._unknown = unknown
        self._rng = random.Random(plan.seed * 1_000_003 + index)

    def apply(self, payloads: list[bytes], control: Container[int], now: float) -> list[Queued]:
        """The frames to queue for ``payloads`` (``control`` holds the indexes that are not
        market data), each with the loop time it may be written at."""
        plan = self.plan
        out: list[Queued] = []
        for i, payload in enumerate(payloads):
            if self.dropped:
                break
            if i in control:
                out.append((self.hold_until, payload))
                continue
            self.frames += 1
            n = self.frames
            if plan.delay_every and n % plan.delay_every == 0:
                self.hold_until = max(self.hold_until, now + plan.delay_seconds)
            if plan.skip_every and n % plan.skip_every == 0:
                pass
            else:
                if plan.corrupt_every and n % plan.corrupt_every == 0:
                    payload = self.corrupt(payload)
                out.append((self.hold_until, payload))
                if plan.duplicate_every and n % plan.duplicate_every == 0:
                    out.append((self.hold_until, payload))
            if plan.unknown_every and n % plan.unknown_every == 0:
                out.append((self.hold_until, self._unknown()))
            if plan.stall_after and n == plan.stall_after:
                self.hold_until = max(self.hold_until, now + plan.stall_seconds)
            if plan.drop_after and n >= plan.drop_after:
                self.dropped = True
                out.append((self.hold_until, None))
        return out

    def corrupt(self, payload: bytes) -> bytes:
        cut = self._rng.randrange(1, max(2, len(payload)))
        garbage = bytes(self._rng.choice(_GARBAGE) for _ in range(self._rng.randint(1, 16)))
        # A NUL byte is never valid JSON, not even inside a string.
        return payload[:cut] + b"\x00" + garbage
