"""Replacing a connection before the venue closes it: make-before-break.

Binance closes every connection at 24 hours and announces restarts with ``serverShutdown``;
waiting for the close loses the books and leaves a gap in the lake until they are resynced.
Instead a second socket opens for the same connection and holds its frames. Once it has
delivered for ``HANDOVER_SECONDS`` (so it carries everything the old one had not yet
delivered) the old socket is retired and the held frames go to the same engine, which drops
what it already applied, by update id for books and trade id for trades. The books stay in
sync and no REST snapshot is needed. If the old socket closes first, the replacement takes
over at once, provided it has delivered anything.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from alphapulse.sources import WebSocketSource

if TYPE_CHECKING:
    from alphapulse.runtime import ConnectionRuntime, VenueRuntime

#: How long a replacement socket delivers (held) alongside the old one before taking over.
HANDOVER_SECONDS = 1.0
#: How long a replacement socket may take to deliver its first frame.
HANDOVER_TIMEOUT = 30.0
#: After a handover, the engine's duplicate notices are the overlap, not the venue's fault.
HANDOVER_QUIET_SECONDS = 5.0


async def replace_socket(rt: VenueRuntime, c: ConnectionRuntime, reason: str) -> None:
    """Open a replacement for ``c``'s socket, then retire the old one. Started by
    ``VenueRuntime.spawn_rotation``, which marks ``c`` rotating."""
    old = c.source
    events = rt.host.events
    try:
        if old is None or not rt.host.running:
            return
        events.append("rotate", rt.name, connection=c.name, reason=reason, conn_id=old.conn_id)
        new = c.standby = rt.source_for(c, hold=True)
        deadline = time.monotonic() + HANDOVER_TIMEOUT
        while c.source is old and new.frames == 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if c.source is old and new.frames == 0:
            events.append("rotate_failed", rt.name, connection=c.name, reason=reason)
            await new.stop()
            return
        if c.source is old:
            # Both sockets carry the stream: the old one until the new one has caught up.
            await asyncio.sleep(HANDOVER_SECONDS)
        if c.source is old:
            c.retiring.add(old)
            promote(rt, c, new)
        await old.stop()
    finally:
        c.standby = None
        c.rotating = False


def promote(rt: VenueRuntime, c: ConnectionRuntime, new: WebSocketSource) -> None:
    c.source = new
    c.engine.connected(new.conn_id)
    c.quiet_duplicates_until = time.monotonic() + HANDOVER_QUIET_SECONDS
    new.release()
    rt.host.events.append("rotated", rt.name, connection=c.name, conn_id=new.conn_id)


def take_over(rt: VenueRuntime, c: ConnectionRuntime, closed: WebSocketSource) -> bool:
    """``closed`` (the current socket) closed during a replacement: the replacement takes
    over if it has delivered anything. True if it did."""
    new = c.standby
    if closed is not c.source or new is None or new.frames == 0 or not rt.host.running:
        return False
    closed.retire()
    promote(rt, c, new)
    return True
