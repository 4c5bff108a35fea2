"""web/errors.py: HTTP errors rendered as JSON keep the headers that go with them."""

from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from callcentre.web.errors import error_middleware


async def test_a_405_in_json_still_says_which_methods_are_allowed() -> None:
    """Found by schemathesis's unsupported_method check (RFC 9110 requires Allow)."""
    app = web.Application(middlewares=[error_middleware])

    async def ok(request: web.Request) -> web.Response:
        return web.Response()

    app.router.add_post("/thing", ok)
    async with TestClient(TestServer(app)) as client:
        resp = await client.request("TRACE", "/thing")
        assert resp.status == 405
        assert resp.headers["Allow"] == "POST"
        assert (await resp.json())["error"] == "method_not_allowed"
