"""What the Lab extension reads to build its own views: the SQL editor's schema, the
notebook templates, and the charts' bundle.

The bundle is the widgets' ES module (``alphapulse/widgets/static/charts.js``, built by
``make widgets``): the Lab fetches it with its authenticated ``requestAPI`` and imports it
from a Blob URL, so its chart panel draws with the very lightweight-charts build the
notebook widgets use. It is served with a content hash as its ETag and ``no-cache``: the
browser keeps it and asks each time, and an unchanged bundle costs a 304.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
from pathlib import Path
from typing import Any, Final

from jupyter_server.auth.decorator import authorized
from tornado import web

from alphapulse.lake import LakeError
from alphapulse.server.handlers import BaseHandler, one_line
from alphapulse.server.sql import SQLFailed, SQLTimeout
from alphapulse.server.templates import TemplateError, list_templates, load_template

#: The widgets' bundle: ``alphapulse.widgets.live_chart.BUNDLE``, named here without
#: importing the widgets (anywidget, ipywidgets) into the server.
CHARTS_BUNDLE: Final = Path(__file__).resolve().parent.parent / "widgets" / "static" / "charts.js"
JAVASCRIPT: Final = "application/javascript"
HOW_TO_BUILD: Final = "run `make widgets` (cd extension/charts && npm ci && node build.mjs)"


class SchemaHandler(BaseHandler):
    """``{"tables": [{"name", "columns": [{"name", "type"}]}]}``: what the query endpoint's
    SQL can name (``ReadOnlySQL.schema``), for the editor's completion."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        def read() -> list[dict[str, Any]]:
            return self.state.sql().schema()

        try:
            tables = await asyncio.get_running_loop().run_in_executor(None, read)
        except LakeError as e:  # no lake or no commit yet: the query endpoint's 503 too
            raise web.HTTPError(503, reason=one_line(e)) from None
        except SQLTimeout as e:
            raise web.HTTPError(504, reason=one_line(e)) from None
        except SQLFailed as e:
            raise web.HTTPError(503, reason=one_line(e)) from None
        self.reply({"tables": tables})


class TemplatesHandler(BaseHandler):
    """``{"templates": [{"name", "title", "description"}]}``."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        templates = await asyncio.get_running_loop().run_in_executor(None, list_templates)
        self.reply({"templates": templates})


class TemplateHandler(BaseHandler):
    """The notebook ``<name>`` (nbformat 4), clean; 404 for any other name."""

    @web.authenticated
    @authorized
    async def get(self, name: str) -> None:
        load = functools.partial(load_template, name)
        try:
            notebook = await asyncio.get_running_loop().run_in_executor(None, load)
        except TemplateError as e:
            raise web.HTTPError(500, reason=one_line(e)) from None
        if notebook is None:
            raise web.HTTPError(404, reason=f"no template named {name!r}"[:200])
        self.reply(notebook)


class ChartsBundleHandler(BaseHandler):
    """``charts.js`` as JavaScript, revalidated by its content hash."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        path = CHARTS_BUNDLE
        try:
            stat = path.stat()
            body, etag = _bundle(path, stat.st_mtime_ns, stat.st_size)
        except FileNotFoundError:
            raise web.HTTPError(
                404, reason=f"the charts bundle is not built ({path} is missing): {HOW_TO_BUILD}"
            ) from None
        # Set by hand, tornado's finish neither hashes the body again nor answers the
        # If-None-Match itself: both are done here.
        self.set_header("Etag", etag)
        self.set_header("Cache-Control", "no-cache")
        if self.check_etag_header():
            self.set_status(304)
            self.finish()
            return
        self.finish(body, set_content_type=JAVASCRIPT)


@functools.lru_cache(maxsize=2)
def _bundle(path: Path, mtime_ns: int, size: int) -> tuple[bytes, str]:
    """The bundle's bytes and strong ETag, read once per version of the file (a rebuild
    changes its mtime and, nearly always, its size)."""
    body = path.read_bytes()
    return body, f'"{hashlib.sha256(body).hexdigest()[:32]}"'
