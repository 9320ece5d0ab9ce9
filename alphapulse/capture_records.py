"""The JSON shapes of capture records, checked field by field.

A record is read only when every field it needs has the right JSON type and range: a
frame that is a number, a timestamp that is a string or a protocol the core does not speak
raise :class:`RecordShapeError`, whose message names the field, and the reader counts the
record as unreadable instead of replaying something it was not.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any, Literal

from alphapulse import _core

RecordKind = Literal["header", "connect", "send", "recv", "http", "disconnect"]


@dataclass(frozen=True, slots=True)
class Record:
    """One capture record. ``data`` is the frame or response body as bytes."""

    kind: RecordKind
    ts: int
    conn: str = ""
    data: bytes = b""
    protocol: str | None = None
    url: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


SHARED_PROTOCOLS = {
    "COINBASE": "coinbase",
    "KRAKEN": "kraken_v1",
    "BINANCE": "binance",
    "BINANCE_US": "binance_us",
    "ALPACA": "alpaca",
}
_MAX_NS = (1 << 63) - 1  # the core's timestamps are i64 nanoseconds


class RecordShapeError(Exception):
    """A record whose JSON does not have the shape of its kind; the message says how."""


_JSON_TYPES = {
    bool: "a boolean",
    int: "a number",
    float: "a number",
    str: "a string",
    list: "an array",
}


def json_type(value: object) -> str:
    return "null" if value is None else _JSON_TYPES.get(type(value), "an object")


def _text(r: dict[str, Any], key: str, default: str | None = None) -> str:
    value = r.get(key, default)
    if value is None:
        raise RecordShapeError(f"no {key!r}")
    if not isinstance(value, str):
        raise RecordShapeError(f"{key!r} is {json_type(value)}, not a string")
    return value


def _optional_text(r: dict[str, Any], key: str) -> str | None:
    return _text(r, key) if r.get(key) is not None else None


def integer_ns(value: object, key: str = "ts") -> int:
    """Our own timestamps: integer nanoseconds."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise RecordShapeError(f"{key!r} is {json_type(value)}, not integer nanoseconds")
    if not 0 <= value <= _MAX_NS:
        raise RecordShapeError(f"{key!r} is out of range: {value}")
    return value


def seconds_as_ns(value: object, key: str = "ts") -> int:
    """The shared recordings' timestamps: float seconds."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise RecordShapeError(f"{key!r} is {json_type(value)}, not seconds")
    if not 0 <= value <= _MAX_NS / 1e9:  # also refuses NaN
        raise RecordShapeError(f"{key!r} is out of range: {value}")
    # Recordings keep microseconds; rounding there keeps float noise out of the ns.
    return min(round(value * 1_000_000) * 1000, _MAX_NS)


def _frame_data(r: dict[str, Any], key: str) -> bytes:
    if key == "b64":
        try:
            return base64.b64decode(_text(r, key), validate=True)
        except ValueError:
            raise RecordShapeError(f"{key!r} is not base64") from None
    return _text(r, key).encode()


def _protocol(name: str) -> str:
    if name not in _core.PROTOCOLS:
        raise RecordShapeError(f"a protocol we do not speak: {name[:40]!r}")
    return name


def own_record(r: dict[str, Any], protocols: dict[str, str]) -> Record | None:
    kind = r.get("t")
    conn = _text(r, "conn", "")
    ts = integer_ns(r.get("ts"))
    if kind == "connect":
        protocol = protocols[conn] = _protocol(_text(r, "protocol"))
        return Record("connect", ts, conn, protocol=protocol, url=_optional_text(r, "url"))
    if kind in ("recv", "send"):
        data = _frame_data(r, "b64" if "b64" in r else "data")
        return Record(kind, ts, conn, data, protocol=protocols.get(conn))
    if kind == "http":
        data = _frame_data(r, "data")
        http_protocol = _optional_text(r, "protocol")
        if http_protocol is not None:
            _protocol(http_protocol)
        return Record("http", ts, conn, data, protocol=http_protocol, url=_optional_text(r, "url"))
    if kind == "disconnect":
        reason = _text(r, "reason", "")
        return Record("disconnect", ts, conn, protocol=protocols.get(conn), meta={"reason": reason})
    return None


def shared_record(r: dict[str, Any], exchange: str, protocols: dict[str, str]) -> Record | None:
    kind = r.get("t")
    conn = _text(r, "conn", "")
    ts = seconds_as_ns(r.get("ts"))
    url = _optional_text(r, "addr") or _optional_text(r, "url") or ""
    protocol = protocols.get(conn)
    if protocol is None:
        protocol = protocols[conn] = (
            "kraken" if exchange == "KRAKEN" and "/v2" in url else SHARED_PROTOCOLS[exchange]
        )
    if kind == "connect":
        return Record("connect", ts, conn, protocol=protocol, url=url)
    if kind in ("recv", "send"):
        # Binary frames, if any, are base64 strings too: nothing tells them apart.
        return Record(kind, ts, conn, _frame_data(r, "data"), protocol=protocol)
    if kind == "http":
        return Record("http", ts, conn, _frame_data(r, "data"), protocol=protocol, url=url)
    return None
