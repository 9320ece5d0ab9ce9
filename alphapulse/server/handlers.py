"""The REST and WebSocket handlers: thin, authenticated and authorized by jupyter_server.

Every handler is an ``APIHandler`` (JSON errors, XSRF checked on POST unless the request
carries the token) with ``@web.authenticated`` and ``@authorized`` on the resource
``alphapulse``; the stream socket uses ``@ws_authenticated`` and checks the same permission
before upgrading (its origin is checked by ``JupyterHandler.check_origin``). The work is in
the supervisor, the hub and the read-only SQL session (``ServerState``).
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson
from jupyter_core.utils import ensure_async
from jupyter_server.auth.decorator import authorized, ws_authenticated
from jupyter_server.base.handlers import APIHandler, JupyterHandler
from tornado import web, websocket

from alphapulse.control import ControlRequestError
from alphapulse.control_client import ControlError, ControlUnavailableError
from alphapulse.lake import LakeError
from alphapulse.live import LiveSpecError
from alphapulse.query.errors import QueryError
from alphapulse.server.lakeread import LakeReader
from alphapulse.server.sql import QueryResult, ReadOnlySQL, SQLFailed, SQLRejected, SQLTimeout
from alphapulse.server.stream import StreamClient, StreamHub
from alphapulse.server.supervisor import CollectorSupervisor

AUTH_RESOURCE = "alphapulse"
ARROW_STREAM = "application/vnd.apache.arrow.stream"
T = TypeVar("T")
#: The longest error line sent (in the JSON and the status line).
_MAX_LINE = 600


@dataclass
class ServerState:
    """What the handlers share; kept in the tornado settings under ``alphapulse_state``."""

    supervisor: CollectorSupervisor
    hub: StreamHub
    lake_reader: LakeReader
    version: str
    query_max_rows: int
    query_timeout: float
    _sql: ReadOnlySQL | None = None
    _sql_lock: threading.Lock = field(default_factory=threading.Lock)

    def sql(self) -> ReadOnlySQL:
        """The read-only SQL session, opened on first use (the lake may be new at start:
        LakeError until the collector's first commit)."""
        with self._sql_lock:
            if self._sql is None:
                self._sql = ReadOnlySQL(
                    self.supervisor.lake, max_rows=self.query_max_rows, timeout_s=self.query_timeout
                )
            return self._sql

    def close(self) -> None:
        with self._sql_lock:
            if self._sql is not None:
                self._sql.close()
                self._sql = None
        self.lake_reader.close()


class BaseHandler(APIHandler):
    auth_resource = AUTH_RESOURCE

    async def prepare(self) -> None:  # type: ignore[override]
        # APIHandler.prepare without its 404 for a cross-origin request carrying cookies:
        # the refusal says what it is (403).
        await JupyterHandler.prepare(self)
        if not self.check_origin():
            raise web.HTTPError(403, reason="cross-origin request refused")

    def check_xsrf_cookie(self) -> None:
        # The same for state-changing requests, whose XSRF check answers a foreign origin
        # with 404 before it looks at the token.
        if hasattr(self, "_jupyter_current_user") and not self.check_origin():
            raise web.HTTPError(403, reason="cross-origin request refused")
        super().check_xsrf_cookie()

    @property
    def state(self) -> ServerState:
        state: ServerState = self.settings["alphapulse_state"]
        return state

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        # jupyter_server's JSON error puts our line in "reason" and the status's stock
        # phrase ("Bad Request") in "message", which is what JupyterLab's requestAPI
        # shows: here "message" says it too. Never a traceback (neither does jupyter's).
        error = kwargs["exc_info"][1] if kwargs.get("exc_info") else None
        if isinstance(error, web.HTTPError) and error.reason and not error.log_message:
            self.log.warning("wrote error: %r", error.reason)
            self.finish(orjson.dumps({"message": error.reason, "reason": error.reason}))
            return
        super().write_error(status_code, **kwargs)

    async def lake_read(self, read: Callable[[], T]) -> T:
        """``read`` in the executor; a lake it cannot read (a damaged file, named with
        what to do) is a 503 saying so rather than a bare 500."""
        try:
            return await asyncio.get_running_loop().run_in_executor(None, read)
        except QueryError as e:
            raise web.HTTPError(503, reason=one_line(e)) from None

    def reply(self, body: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(orjson.dumps(body, default=str))

    async def collector(self, op: str, **args: Any) -> Any:
        """A control call; the collector's refusal is a 400, its absence a 503."""
        try:
            return await self.state.supervisor.call(op, **args)
        except ControlUnavailableError as e:
            raise web.HTTPError(503, reason=one_line(e)) from None
        except ControlError as e:
            raise web.HTTPError(400, reason=one_line(e)) from None

    def int_argument(self, name: str, default: int, low: int, high: int) -> int:
        text = self.get_argument(name, str(default))
        try:
            value = int(text)
        except ValueError:
            raise web.HTTPError(400, reason=f"{name} must be an integer, not {text!r}") from None
        if not low <= value <= high:
            raise web.HTTPError(400, reason=f"{name} must be from {low} to {high}, not {value}")
        return value


def one_line(error: BaseException) -> str:
    """The error's first line, capped: long enough for a damaged file's message (its path,
    pyarrow's reason, what to do), short enough for a header."""
    return str(error).splitlines()[0][:_MAX_LINE] if str(error) else type(error).__name__


class StatusHandler(BaseHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        body: dict[str, Any] = {
            "version": self.state.version,
            "supervisor": self.state.supervisor.info(),
        }
        try:
            body["collector"] = await self.state.supervisor.call("status")
        except ControlError as e:
            body["collector"] = None
            body["error"] = one_line(e)
        body["stream"] = {
            "clients": len(self.state.hub.clients),
            "messages_sent": self.state.hub.messages_sent,
        }
        self.reply(body)


class CollectorsHandler(BaseHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        status = await self.collector("status")
        venues = [{"venue": name, **v} for name, v in status["venues"].items()]
        self.reply({"collectors": venues, "supervisor": self.state.supervisor.info()["state"]})


class CollectorActionHandler(BaseHandler):
    @web.authenticated
    @authorized
    async def post(self, venue: str, action: str) -> None:
        op = "start_venue" if action == "start" else "stop_venue"
        self.reply(await self.collector(op, venue=venue))


class InstrumentsHandler(BaseHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.reply({"instruments": await self.collector("instruments")})


class BookHandler(BaseHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        instrument = self.get_argument("instrument", "")
        depth = self.int_argument("depth", 10, 1, 1000)
        self.reply(await self.collector("book_top", instrument=instrument, depth=depth))


class EventsHandler(BaseHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        since = self.int_argument("since", -1, -1, 2**63 - 1)
        limit = self.int_argument("limit", 500, 1, 10_000)
        # tail=N: the newest N instead (a panel opening on a long log), still oldest first.
        tail = self.int_argument("tail", 0, 0, 10_000)
        events = await self.lake_read(
            functools.partial(self.state.lake_reader.events, since, limit, tail)
        )
        self.reply({"events": events, "supervisor": list(self.state.supervisor.events)})


class NewsHandler(BaseHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        symbol = self.get_argument("symbol", "") or None
        limit = self.int_argument("limit", 50, 1, 1000)
        news = await self.lake_read(functools.partial(self.state.lake_reader.news, symbol, limit))
        self.reply({"news": news})


class QueryHandler(BaseHandler):
    """POST {"sql": "...", "format": "json" | "arrow", "max_rows": n, "timeout_s": t}."""

    @web.authenticated
    @authorized
    async def post(self) -> None:
        try:
            body = orjson.loads(self.request.body or b"{}")
        except orjson.JSONDecodeError:
            raise web.HTTPError(400, reason='the body must be JSON: {"sql": ...}') from None
        sql = body.get("sql") if isinstance(body, dict) else None
        fmt = body.get("format", "json") if isinstance(body, dict) else None
        if not isinstance(sql, str) or fmt not in ("json", "arrow"):
            raise web.HTTPError(400, reason='give {"sql": text, "format": json|arrow}')
        options = {k: body[k] for k in ("max_rows", "timeout_s") if k in body}

        def run() -> QueryResult:
            return self.state.sql().run(sql, **options)

        try:
            result = await asyncio.get_running_loop().run_in_executor(None, run)
        except LakeError as e:
            raise web.HTTPError(503, reason=one_line(e)) from None
        except SQLTimeout as e:
            raise web.HTTPError(504, reason=one_line(e)) from None
        except (SQLRejected, SQLFailed, ValueError, TypeError) as e:
            raise web.HTTPError(400, reason=one_line(e)) from None
        if fmt == "arrow":
            self.finish(result.to_arrow_ipc(), set_content_type=ARROW_STREAM)
        else:
            self.finish(result.to_json())


class StreamHandler(JupyterHandler, websocket.WebSocketHandler):
    """``/alphapulse/api/stream``: subscribe/unsubscribe messages in, updates out."""

    auth_resource = AUTH_RESOURCE
    client: StreamClient | None = None

    @property
    def hub(self) -> StreamHub:
        state: ServerState = self.settings["alphapulse_state"]
        return state.hub

    @ws_authenticated
    async def get(self, *args: Any, **kwargs: Any) -> None:
        allowed = await ensure_async(
            self.authorizer.is_authorized(self, self.current_user, "read", AUTH_RESOURCE)
        )
        if not allowed:
            raise web.HTTPError(403)
        result = super().get(*args, **kwargs)
        if result is not None:
            await result

    def open(self, *args: Any, **kwargs: Any) -> None:
        self.client = StreamClient(self.write_message)
        self.hub.add(self.client)

    async def on_message(self, message: str | bytes) -> None:
        assert self.client is not None
        try:
            request = orjson.loads(message)
            if not isinstance(request, dict):
                raise LiveSpecError("a message is a JSON object with op")
            op = request.get("op")
            if op == "subscribe":
                await self.hub.subscribe(self.client, request)
            elif op == "unsubscribe":
                self.hub.unsubscribe(self.client, request)
            else:
                raise LiveSpecError(f"op must be subscribe or unsubscribe, not {op!r}")
        except (LiveSpecError, ControlRequestError, ControlError, orjson.JSONDecodeError) as e:
            self.client.notices.append({"type": "error", "message": one_line(e)})
        except Exception as e:  # a lake that cannot give history: said, not a dead socket
            self.log.warning("alphapulse stream: %s", e)
            self.client.notices.append({"type": "error", "message": one_line(e)})
        self.hub.flush(self.client)

    def on_close(self) -> None:
        if self.client is not None:
            self.hub.remove(self.client)
            self.client = None
