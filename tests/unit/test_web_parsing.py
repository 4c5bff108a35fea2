"""web/parsing.py at the edge: request bodies the API fuzz test (tests/adapters/
test_api_fuzz.py) found answered 500 are refused with a 4xx that says why."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from callcentre.web.errors import error_middleware
from callcentre.web.parsing import json_object


async def echo(request: web.Request) -> web.Response:
    return web.json_response(await json_object(request))


@pytest.fixture
async def client() -> AsyncIterator[TestClient[Any, Any]]:
    app = web.Application(middlewares=[error_middleware])
    app.router.add_post("/echo", echo)
    async with TestClient(TestServer(app)) as client:
        yield client


@pytest.mark.parametrize(("body", "content_type", "says"), [
    (b"t\x16\x0c\x99\x0e", "application/json", "can't decode byte 0x99"),  # found by the fuzz test
    (b'{"a": 1}', "application/json; charset=no-such-charset", "unknown encoding"),
    (b"[" * 60_000, "application/json", "recursion"),
    (b'{"a": ' + b"9" * 5000 + b"}", "application/json", "digits"),
])
async def test_bodies_that_are_not_json_are_a_400_not_a_500(
        client: TestClient[Any, Any], body: bytes, content_type: str, says: str) -> None:
    resp = await client.post("/echo", data=body, headers={"Content-Type": content_type})
    assert resp.status == 400
    answer = await resp.json()
    assert answer["error"] == "bad_json" and says in answer["message"]


async def test_a_json_object_in_utf8_or_the_charset_named_is_read(
        client: TestClient[Any, Any]) -> None:
    latin = '{"reason": "café"}'.encode("latin-1")
    resp = await client.post("/echo", data=latin,
                             headers={"Content-Type": "application/json; charset=latin-1"})
    assert await resp.json() == {"reason": "café"}
    resp = await client.post("/echo", data='{"reason": "café"}'.encode(),
                             headers={"Content-Type": "application/json"})
    assert await resp.json() == {"reason": "café"}
