"""``alphapulse simulate``: serve a simulated venue on loopback until Ctrl-C.

```
alphapulse simulate --venue kraken --symbols BTC/USD,ETH/USD --port 8765 [--rate N]
                    [--seed S] [--fault drop_after=500,skip_every=100] [--stats-every 5]
```

It prints the WebSocket and REST URLs, then (with ``--stats-every``) the steps and frames
written per second.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Sequence

from alphapulse.arguments import (
    UsageError,
    non_negative_number,
    port_number,
    positive_number,
    seed_number,
    symbol_list,
)
from alphapulse.simulator.exchange import VENUES, SimulatedExchange
from alphapulse.simulator.faults import FaultPlan

DEFAULT_SYMBOLS = {
    "kraken": "BTC/USD,ETH/USD",
    "coinbase": "BTC-USD,ETH-USD",
    "binance": "BTCUSDT,ETHUSDT",
    "alpaca": "AAPL,BTC/USD",
}
#: Steps kept per symbol for the ground truth in a long-running server.
TRUTH_LIMIT = 100_000


def fault_plan(text: str) -> FaultPlan:
    """``--fault``: a :class:`FaultPlan`, its ValueError a usage error naming the option."""
    try:
        return FaultPlan.parse(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def credentials_pair(text: str) -> tuple[str, str]:
    """``--credentials KEY:SECRET``: both parts given (a bare key would mean secret "")."""
    key, sep, secret = text.partition(":")
    if not (sep and key and secret):
        raise argparse.ArgumentTypeError(f"expected KEY:SECRET, not {text!r}")
    return key, secret


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``simulate`` options, for a subcommand parser."""
    parser.add_argument("--venue", choices=list(VENUES), default="kraken")
    parser.add_argument(
        "--symbols",
        type=symbol_list,
        help="comma-separated venue symbols (default: two per venue)",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=port_number, default=8765, help="0 picks a free port")
    parser.add_argument(
        "--rate",
        type=positive_number,
        default=1000.0,
        help="market steps per second (about frames/s)",
    )
    parser.add_argument("--seed", type=seed_number, default=0)
    parser.add_argument(
        "--fault",
        type=fault_plan,
        help="faults for the first connection, e.g. drop_after=500,skip_every=100 "
        "(connections=0;1 or connections=all to choose)",
    )
    parser.add_argument(
        "--credentials",
        type=credentials_pair,
        help="KEY:SECRET that Alpaca accepts (default: any)",
    )
    parser.add_argument(
        "--bar-seconds", type=positive_number, default=60.0, help="Alpaca bar interval"
    )
    parser.add_argument(
        "--news-seconds", type=positive_number, default=5.0, help="Alpaca news period"
    )
    parser.add_argument(
        "--stats-every",
        type=non_negative_number,
        default=0.0,
        help="print throughput every N seconds (0: never)",
    )


async def serve(args: argparse.Namespace) -> None:
    """Run the exchange described by parsed ``args`` until cancelled."""
    symbols = args.symbols or DEFAULT_SYMBOLS[args.venue].split(",")
    try:
        exchange = SimulatedExchange(
            args.venue,
            symbols,
            seed=args.seed,
            rate=args.rate,
            faults=args.fault,
            host=args.host,
            port=args.port,
            credentials=args.credentials,
            bar_seconds=args.bar_seconds,
            news_seconds=args.news_seconds,
            truth_limit=TRUTH_LIMIT,
        )
    except ValueError as e:  # a symbol the venue cannot spell, or none
        raise UsageError(f"--symbols: {e}") from None
    try:
        await exchange.start()
    except OSError as e:  # an unknown host, a port taken: exit 1, as for any runtime error
        # "Address already in use", not asyncio's "error while attempting to bind on ...".
        reason = os.strerror(e.errno) if e.errno and e.errno > 0 else e.strerror or str(e)
        raise OSError(e.errno, f"cannot listen on {args.host}:{args.port}: {reason}") from None
    try:
        print(f"simulating {args.venue} {', '.join(exchange.symbols)} at {args.rate:g} steps/s")
        print(f"ws:   {exchange.ws_url}")
        print(f"rest: {exchange.rest_url}")
        if args.fault:
            print(f"faults: {args.fault}")
        print("Ctrl-C to stop", flush=True)
        last = exchange.stats()
        while True:
            await asyncio.sleep(args.stats_every or 3600)
            now = exchange.stats()
            span = now.seconds - last.seconds
            if args.stats_every and span > 0:
                print(
                    f"{(now.steps - last.steps) / span:,.0f} steps/s, "
                    f"{(now.frames - last.frames) / span:,.0f} frames/s to "
                    f"{now.connections} connection(s)",
                    flush=True,
                )
                last = now
    finally:
        await exchange.stop()


def cmd_simulate(args: argparse.Namespace) -> int:
    """Entry point for a parsed ``simulate`` subcommand; returns the exit code. Errors
    (UsageError, OSError) are for :func:`alphapulse.commands.main` to report."""

    async def main() -> None:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError):  # no signal handlers on Windows
            loop.add_signal_handler(signal.SIGINT, task.cancel)
            loop.add_signal_handler(signal.SIGTERM, task.cancel)
        await serve(args)

    with contextlib.suppress(asyncio.CancelledError, KeyboardInterrupt):
        asyncio.run(main())
    print("stopped")
    return 0


def main_simulate(argv: Sequence[str] | None = None) -> int:
    """``alphapulse simulate [options]``, the same command with the same errors and exit
    codes: serve until Ctrl-C."""
    from alphapulse.cli import main

    return main(["simulate", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main_simulate())
