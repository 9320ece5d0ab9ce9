"""Every route refuses a request without credentials, with a wrong token, and a cross-site
request (a browser's cookie from another origin, or a POST without its XSRF token): the
routes are listed from ``alphapulse.server.routes.ROUTES``, so a new route is tested too."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import tornado.httpclient
import tornado.websocket
from tornado.httpclient import HTTPClientError

import alphapulse.server
from alphapulse.server.routes import ROUTES

CASES = [(method, path) for _, _, methods in ROUTES for method, path in methods.items()]
Fetch = Callable[..., Awaitable[Any]]


def test_every_handler_is_in_the_route_table() -> None:
    # Every module of the package: a handler written in a new module is caught too.
    modules = [
        importlib.import_module(f"{alphapulse.server.__name__}.{info.name}")
        for info in pkgutil.iter_modules(alphapulse.server.__path__)
    ]
    defined = {
        obj
        for module in modules
        for _, obj in inspect.getmembers(module, inspect.isclass)
        if obj.__module__ == module.__name__
        and issubclass(obj, tornado.web.RequestHandler)
        # a base class answers nothing itself: a handler defines a verb (or opens a socket)
        and any(verb in vars(obj) for verb in ("get", "post", "patch", "delete", "open"))
    }
    assert defined == {handler for _, handler, _ in ROUTES}
    for _, _, methods in ROUTES:
        assert methods, "a route with no method to test"


async def _status(call: Awaitable[Any]) -> int:
    try:
        response = await call
    except HTTPClientError as e:
        return e.code
    except tornado.websocket.WebSocketClosedError:
        return 403
    return int(getattr(response, "code", 101))


def _request(
    jp_fetch: Fetch, jp_ws_fetch: Fetch, method: str, path: str, headers: dict[str, str]
) -> Awaitable[Any]:
    if method == "WS":
        return jp_ws_fetch(path, headers=headers)
    body = b"{}" if method in ("POST", "PATCH") else None
    return jp_fetch(path, method=method, body=body, headers=headers)


@pytest.mark.parametrize(("method", "path"), CASES)
async def test_no_token_is_refused(
    jp_fetch: Fetch, jp_ws_fetch: Fetch, method: str, path: str
) -> None:
    code = await _status(_request(jp_fetch, jp_ws_fetch, method, path, {"Authorization": ""}))
    assert code in (401, 403)


@pytest.mark.parametrize(("method", "path"), CASES)
async def test_a_wrong_token_is_refused(
    jp_fetch: Fetch, jp_ws_fetch: Fetch, method: str, path: str
) -> None:
    headers = {"Authorization": "token not-the-token"}
    code = await _status(_request(jp_fetch, jp_ws_fetch, method, path, headers))
    assert code in (401, 403)


async def _login_cookie(jp_serverapp: Any, jp_http_port: int, jp_base_url: str) -> str:
    """The cookies a browser gets by opening the server's URL with its token (named after
    the host: the tests reach the server as 127.0.0.1 and, for websockets, localhost)."""
    token = jp_serverapp.identity_provider.token
    client = tornado.httpclient.AsyncHTTPClient()
    cookies = []
    for host in ("127.0.0.1", "localhost"):
        response = await client.fetch(
            f"http://{host}:{jp_http_port}{jp_base_url}api/status?token={token}"
        )
        cookies += [c.split(";")[0] for c in response.headers.get_list("Set-Cookie")]
    assert len(cookies) == 2, "no login cookie"
    return "; ".join(cookies)


@pytest.mark.parametrize(("method", "path"), CASES)
async def test_a_cross_site_request_is_refused(
    jp_fetch: Fetch,
    jp_ws_fetch: Fetch,
    jp_serverapp: Any,
    jp_http_port: int,
    jp_base_url: str,
    method: str,
    path: str,
) -> None:
    cookie = await _login_cookie(jp_serverapp, jp_http_port, jp_base_url)
    # A page on another site: the browser sends the cookie, an Origin of its own, no token.
    headers = {"Authorization": "", "Cookie": cookie, "Origin": "http://evil.example"}
    code = await _status(_request(jp_fetch, jp_ws_fetch, method, path, headers))
    assert code in (401, 403)
    if method == "POST":  # and from the same origin, without the XSRF token, too
        headers = {"Authorization": "", "Cookie": cookie}
        code = await _status(_request(jp_fetch, jp_ws_fetch, method, path, headers))
        assert code in (401, 403)


async def test_the_cookie_itself_works_from_the_same_origin(
    jp_fetch: Fetch, jp_serverapp: Any, jp_http_port: int, jp_base_url: str
) -> None:
    """The refusals above are for the origin and the XSRF token, not a broken cookie."""
    cookie = await _login_cookie(jp_serverapp, jp_http_port, jp_base_url)
    response = await jp_fetch(
        "alphapulse/api/status", headers={"Authorization": "", "Cookie": cookie}
    )
    assert response.code == 200
