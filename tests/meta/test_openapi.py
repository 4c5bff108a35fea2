"""The OpenAPI description (web/openapi.py) and the router agree: every route under /api/
is described, and every described operation is routed."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from callcentre.app import Service
from callcentre.config import Config
from callcentre.web.openapi import DESCRIPTION
from tests.support import policy_file

METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def routed(app: web.Application) -> set[tuple[str, str]]:
    """(METHOD, path) of every route under /api/, path params as OpenAPI writes them
    (``canonical`` drops aiohttp's regexes: ``{id:[0-9]+}`` is ``{id}``). HEAD is left
    out: aiohttp adds it to every GET by itself."""
    return {(route.method, route.resource.canonical) for route in app.router.routes()
            if route.resource is not None and route.resource.canonical.startswith("/api/")
            and route.method != "HEAD"}


def described(description: dict[str, object]) -> set[tuple[str, str]]:
    paths = description["paths"]
    assert isinstance(paths, dict)
    return {(method.upper(), path) for path, item in paths.items()
            for method in item if method in METHODS}


async def app_of_the_service(tmp_path: Path) -> web.Application:
    """The application as the composition root builds it (every route it adds)."""
    cfg = Config(db=str(tmp_path / "cc.sqlite3"), policy_file=policy_file(tmp_path))
    return Service(cfg).web_app()


async def test_every_api_route_is_described_and_every_operation_routed(
        tmp_path: Path) -> None:
    app = await app_of_the_service(tmp_path)
    routes, operations = routed(app), described(DESCRIPTION)
    assert len(routes) > 15  # the whole API, not an empty router
    assert sorted(routes - operations) == [], "routes missing from web/openapi.py"
    assert sorted(operations - routes) == [], "described operations with no route"


async def test_a_route_added_without_description_is_caught(tmp_path: Path) -> None:
    app = await app_of_the_service(tmp_path)

    async def handler(request: web.Request) -> web.Response:
        return web.Response()

    app.router.add_post("/api/callbacks/{id:[0-9]+}/forget", handler)
    assert routed(app) - described(DESCRIPTION) == {("POST", "/api/callbacks/{id}/forget")}


def test_an_operation_without_a_route_is_caught() -> None:
    extra = {**DESCRIPTION, "paths": {**DESCRIPTION["paths"], "/api/gone": {"get": {}}}}
    assert described(extra) - described(DESCRIPTION) == {("GET", "/api/gone")}
