"""A simulated venue in the test process and ``alphapulse collect`` against it.

The end-to-end tests run the real CLI in a subprocess, pointed by a config file at a
``SimulatedExchange`` that runs on an event loop of its own in the test's process, so that
the test can read the venue's ground truth (every trade it sent, with its time).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from pathlib import Path

from alphapulse.collect import STATUS_FILE
from alphapulse.simulator import SimulatedExchange
from alphapulse.simulator.state import TruthTrade
from tests.conftest import ROOT

SYMBOLS = ("BTC/USD", "ETH/USD")


class ExchangeThread:
    """A simulated venue on an event loop of its own, so that it runs on while the test
    waits on processes (the ``kraken`` fixture of conftest is one)."""

    def __init__(self, venue: str, symbols: tuple[str, ...], rate: float) -> None:
        self.loop = asyncio.new_event_loop()
        self.exchange = SimulatedExchange(venue, list(symbols), seed=5, rate=rate)
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.exchange.start(), self.loop).result(30)

    def trades(self, symbol: str) -> list[TruthTrade]:
        """The venue's ground truth for ``symbol``, read on its own loop."""

        async def read() -> list[TruthTrade]:
            return self.exchange.truth(symbol).trades

        return asyncio.run_coroutine_threadsafe(read(), self.loop).result(30)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.exchange.stop(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def write_config(path: Path, lake: Path, venue: ExchangeThread) -> Path:
    symbols = ", ".join(f'"{s}"' for s in SYMBOLS)
    path.write_text(
        f'lake = "{lake}"\n\n[venues.kraken]\nsymbols = [{symbols}]\n'
        f'channels = ["book", "trades"]\nurls = {{ ws = "{venue.exchange.ws_url}" }}\n'
    )
    return path


def collect(config: Path, log: Path, *args: str) -> subprocess.Popen[bytes]:
    with log.open("ab") as stderr:  # a file: nothing blocks on a full pipe
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "alphapulse",
                "collect",
                "--config",
                str(config),
                "--no-scheduler",
                *args,
            ],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )


def wait_for_status(lake: Path, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while not (lake / STATUS_FILE).exists():
        assert proc.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, "the collector did not start"
        time.sleep(0.05)
