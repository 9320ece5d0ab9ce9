"""A collector (and its simulated Coinbase) in a process of its own, to be SIGSTOPped.

    python -m tests.pause_child

Prints ``ready`` once both books are in sync, then collects until a line arrives on stdin,
then prints the event counts as JSON. Stall and quiet limits are short (2 s), so a pause of
the process longer than that would blame the venue if the collector did not recognise it.
"""

from __future__ import annotations

import asyncio
import sys

import orjson

from alphapulse.service import CollectorService
from alphapulse.simulator import SimulatedExchange
from alphapulse.venues.coinbase import Coinbase

SYMBOLS = ["BTC-USD", "ETH-USD"]


class Discard:
    async def put(self, table: str, batch: object) -> None:
        return None

    async def close(self) -> None:
        return None

    def stats(self) -> dict[str, int]:
        return {}


async def main() -> None:
    exchange = SimulatedExchange("coinbase", SYMBOLS, seed=12, rate=50)
    await exchange.start()
    venue = Coinbase(SYMBOLS, urls={"ws": exchange.ws_url}, stall_seconds=2.0)
    service = CollectorService([venue], Discard(), drain_seconds=0.05, quiet_seconds=2.0)
    rt = service.runtimes["coinbase"]
    await service.start()
    try:
        while not all(rt.is_synced(s) for s in SYMBOLS):
            await asyncio.sleep(0.05)
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    finally:
        await service.stop()
        await exchange.stop()
    print(orjson.dumps(service.events.counts).decode(), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
