"""The report routes: reports and schedules, runs, a run's HTML (see the README's "Reports").

Thin: the work is in ``ReportService`` (``alphapulse.server.reports``). A bad request is a
400 with the reason, an unknown id a 404, an app database that is not open a 503 saying
why. A run's HTML is served with ``Content-Security-Policy: sandbox``: a report shows data
(a news headline among it) that must not run as script in the server's origin.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

import orjson
from jupyter_server.auth.decorator import authorized
from tornado import web

from alphapulse.reports.catalog import ReportError
from alphapulse.server.handlers import BaseHandler, one_line
from alphapulse.server.reports import ReportService, ReportsUnavailableError

T = TypeVar("T")
HTML_POLICY = "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'"


class ReportHandler(BaseHandler):
    @property
    def reports(self) -> ReportService:
        service: ReportService = self.settings["alphapulse_reports"]
        return service

    async def call(self, work: Callable[[], T]) -> T:
        """``work`` in a thread (the app database is blocking); its errors as HTTP's."""
        try:
            return await asyncio.to_thread(work)
        except ReportsUnavailableError as e:
            raise web.HTTPError(503, reason=one_line(e)) from None
        except ReportError as e:
            raise web.HTTPError(400, reason=one_line(e)) from None
        except KeyError as e:
            raise web.HTTPError(404, reason=f"no such schedule or run: {e.args[0]}") from None
        except ValueError as e:  # the app database's own checks (a bad time zone, ...)
            raise web.HTTPError(400, reason=one_line(e)) from None

    def body(self) -> dict[str, Any]:
        try:
            body = orjson.loads(self.request.body or b"{}")
        except orjson.JSONDecodeError:
            raise web.HTTPError(400, reason="the body must be a JSON object") from None
        if not isinstance(body, dict):
            raise web.HTTPError(400, reason="the body must be a JSON object")
        return body


class ReportsHandler(ReportHandler):
    """The reports there are, the schedules and the scheduler's state."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.reply(await self.call(self.reports.overview))


class SchedulesHandler(ReportHandler):
    @web.authenticated
    @authorized
    async def post(self) -> None:
        body = self.body()
        self.reply(await self.call(lambda: self.reports.add_schedule(body)), status=201)


class ScheduleHandler(ReportHandler):
    @web.authenticated
    @authorized
    async def patch(self, schedule_id: str) -> None:
        body = self.body()
        self.reply(await self.call(lambda: self.reports.set_enabled(int(schedule_id), body)))

    @web.authenticated
    @authorized
    async def delete(self, schedule_id: str) -> None:
        if not await self.call(lambda: self.reports.delete_schedule(int(schedule_id))):
            raise web.HTTPError(404, reason=f"no schedule {schedule_id}")
        self.set_status(204)
        self.finish()


class RunsHandler(ReportHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        report = self.get_argument("report", "") or None
        limit = self.int_argument("limit", 50, 1, 1000)
        self.reply({"runs": await self.call(lambda: self.reports.runs(report, limit))})

    @web.authenticated
    @authorized
    async def post(self) -> None:
        body = self.body()
        run, timeout = await self.call(lambda: self.reports.queue_run(body))
        self.reports.launch(run["id"], timeout)  # the scheduler's task, on this loop
        self.reply(run, status=202)


class RunHandler(ReportHandler):
    @web.authenticated
    @authorized
    async def get(self, run_id: str) -> None:
        run = await self.call(lambda: self.reports.run(run_id))
        if run is None:
            raise web.HTTPError(404, reason=f"no run {run_id!r}"[:200])
        self.reply(run)


class RunCancelHandler(ReportHandler):
    @web.authenticated
    @authorized
    async def post(self, run_id: str) -> None:
        self.reply(await self.call(lambda: self.reports.cancel(run_id)))


class RunHtmlHandler(ReportHandler):
    @web.authenticated
    @authorized
    async def get(self, run_id: str) -> None:
        path = await self.call(lambda: self.reports.html(run_id))
        if path is None:
            raise web.HTTPError(404, reason=f"run {run_id!r} has no HTML"[:200])
        page = await asyncio.to_thread(path.read_bytes)
        self.set_header("Content-Security-Policy", HTML_POLICY)
        self.set_header("X-Content-Type-Options", "nosniff")
        self.finish(page, set_content_type="text/html; charset=utf-8")
