"""Value types for the command line: each turns one argument's text into a checked value or
raises ``ArgumentTypeError``, which argparse reports as a usage error naming the option;
UsageError for what only a command can find out.

``float("nan")``, ``float("inf")`` and ``-5`` are all floats; a duration, a rate or a port
must also make sense, and ``--symbols ""`` must not become a venue with no symbols::

    >>> positive_number("2.5")
    2.5
    >>> symbol_list("BTC/USD, ETH/USD")
    ['BTC/USD', 'ETH/USD']
"""

from __future__ import annotations

import argparse
import math

#: Port 0 asks the operating system for a free one.
MAX_PORT = 65_535


class UsageError(Exception):
    """The command line cannot run as given, found after parsing (options that do not fit
    together, a symbol a venue cannot spell): ``alphapulse`` exits 2, as for argparse's own."""


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"not a finite number: {text!r}")
    return value


def positive_number(text: str) -> float:
    """A finite number above zero (seconds, a rate)."""
    value = _number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be above 0, not {text!r}")
    return value


#: The longest demo ``alphapulse demo --seconds`` writes: a day of simulated market time
#: (about 13 million records); far beyond it the capture's nanosecond clock overflows.
MAX_DEMO_SECONDS = 86_400.0
_INT64 = 1 << 63


def demo_seconds(text: str) -> float:
    """Simulated seconds for the demo capture: above 0, at most a day."""
    value = positive_number(text)
    if value > MAX_DEMO_SECONDS:
        raise argparse.ArgumentTypeError(f"at most {MAX_DEMO_SECONDS:,.0f} (a day), not {text!r}")
    return value


def seed_number(text: str) -> int:
    """A random seed; it is written into the capture's header, a 64-bit JSON integer."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if not -_INT64 <= value < _INT64:
        raise argparse.ArgumentTypeError(f"must fit in 64 bits, not {text!r}")
    return value


def non_negative_number(text: str) -> float:
    """A finite number, zero or above (zero usually switches something off)."""
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or above, not {text!r}")
    return value


def port_number(text: str) -> int:
    """A TCP port, 0 to 65535 (0: any free port)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= MAX_PORT:
        raise argparse.ArgumentTypeError(f"port {value} is out of range (0-{MAX_PORT})")
    return value


def path_argument(text: str) -> str:
    """A file or directory path: ``--config ""`` (an unset shell variable) must not quietly
    mean "no config", nor ``--lake ""`` the default lake."""
    if not text:
        raise argparse.ArgumentTypeError("an empty path")
    return text


def symbol_list(text: str) -> list[str]:
    """Comma-separated venue symbols: at least one, none empty, none twice."""
    symbols = [s.strip() for s in text.split(",")]
    if not any(symbols):
        raise argparse.ArgumentTypeError("no symbols given")
    if "" in symbols:
        raise argparse.ArgumentTypeError(f"an empty symbol in {text!r}")
    if len(set(symbols)) < len(symbols):
        twice = next(s for s in symbols if symbols.count(s) > 1)
        raise argparse.ArgumentTypeError(f"symbol {twice!r} is given twice")
    if bad := [s for s in symbols if any(c.isspace() for c in s)]:
        raise argparse.ArgumentTypeError(f"symbol {bad[0]!r} has spaces")
    return symbols


#: Units a duration may carry (``90s``, ``15m``, ``1h``, ``2d``); a bare number is seconds.
_DURATION_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86_400.0}


def parse_duration(text: str) -> float:
    """``"1h"``, ``"90s"``, ``"1.5h"``, ``"0"`` as seconds (0 or above); ValueError saying why.

    >>> parse_duration("15m"), parse_duration("2")
    (900.0, 2.0)
    """
    stripped = text.strip().lower()
    number = stripped.rstrip("smhd")
    unit = stripped[len(number) :]
    if unit not in _DURATION_UNITS:
        raise ValueError(f"not a duration: {text!r} (a number with s, m, h or d: 90s, 1h)")
    try:
        value = float(number) * _DURATION_UNITS[unit]
    except ValueError:
        raise ValueError(
            f"not a duration: {text!r} (a number with s, m, h or d: 90s, 1h)"
        ) from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"not a duration: {text!r} (a finite number, 0 or more)")
    return value


def duration_argument(text: str) -> float:
    """A duration on the command line, as seconds (see ``parse_duration``)."""
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
