"""The route table: every URL the extension serves, in one place.

The auth tests (tests/server/test_auth.py) walk this table, so a route added here is tested
for missing, wrong and cross-site credentials without anyone remembering to.
"""

from __future__ import annotations

from typing import Final

from tornado.web import RequestHandler

from alphapulse.server import handlers, labapi, reportapi

#: (pattern under the server's base URL, handler, methods with an example path)
ROUTES: Final[list[tuple[str, type[RequestHandler], dict[str, str]]]] = [
    ("alphapulse/api/status", handlers.StatusHandler, {"GET": "alphapulse/api/status"}),
    (
        "alphapulse/api/collectors",
        handlers.CollectorsHandler,
        {"GET": "alphapulse/api/collectors"},
    ),
    (
        r"alphapulse/api/collectors/([a-z_]+)/(start|stop)",
        handlers.CollectorActionHandler,
        {"POST": "alphapulse/api/collectors/kraken/stop"},
    ),
    (
        "alphapulse/api/instruments",
        handlers.InstrumentsHandler,
        {"GET": "alphapulse/api/instruments"},
    ),
    ("alphapulse/api/book", handlers.BookHandler, {"GET": "alphapulse/api/book"}),
    ("alphapulse/api/events", handlers.EventsHandler, {"GET": "alphapulse/api/events"}),
    ("alphapulse/api/news", handlers.NewsHandler, {"GET": "alphapulse/api/news"}),
    ("alphapulse/api/query", handlers.QueryHandler, {"POST": "alphapulse/api/query"}),
    ("alphapulse/api/stream", handlers.StreamHandler, {"WS": "alphapulse/api/stream"}),
    # What the Lab extension builds its editor and panels from.
    ("alphapulse/api/schema", labapi.SchemaHandler, {"GET": "alphapulse/api/schema"}),
    ("alphapulse/api/templates", labapi.TemplatesHandler, {"GET": "alphapulse/api/templates"}),
    (
        # Any segment reaches the handler, which answers a JSON 404 for a bad name.
        r"alphapulse/api/templates/([^/]+)",
        labapi.TemplateHandler,
        {"GET": "alphapulse/api/templates/01_query_the_lake"},
    ),
    (
        r"alphapulse/api/static/charts\.js",
        labapi.ChartsBundleHandler,
        {"GET": "alphapulse/api/static/charts.js"},
    ),
    # Reports: the scheduler's schedules and runs, and a run's HTML.
    ("alphapulse/api/reports", reportapi.ReportsHandler, {"GET": "alphapulse/api/reports"}),
    (
        "alphapulse/api/reports/schedules",
        reportapi.SchedulesHandler,
        {"POST": "alphapulse/api/reports/schedules"},
    ),
    (
        r"alphapulse/api/reports/schedules/(\d+)",
        reportapi.ScheduleHandler,
        {
            "PATCH": "alphapulse/api/reports/schedules/1",
            "DELETE": "alphapulse/api/reports/schedules/1",
        },
    ),
    (
        "alphapulse/api/reports/runs",
        reportapi.RunsHandler,
        {"GET": "alphapulse/api/reports/runs", "POST": "alphapulse/api/reports/runs"},
    ),
    (
        r"alphapulse/api/reports/runs/([0-9A-Za-z-]+)",
        reportapi.RunHandler,
        {"GET": "alphapulse/api/reports/runs/20261201T070000Z-000000"},
    ),
    (
        r"alphapulse/api/reports/runs/([0-9A-Za-z-]+)/cancel",
        reportapi.RunCancelHandler,
        {"POST": "alphapulse/api/reports/runs/20261201T070000Z-000000/cancel"},
    ),
    (
        r"alphapulse/api/reports/runs/([0-9A-Za-z-]+)/html",
        reportapi.RunHtmlHandler,
        {"GET": "alphapulse/api/reports/runs/20261201T070000Z-000000/html"},
    ),
]
