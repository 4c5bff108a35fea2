"""The aiohttp application factory: routes, middleware and typed state."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.aiohttp import make_aiohttp_handler

from callcentre.ports import TokenRepository
from callcentre.web import api, pages, standards
from callcentre.web.auth import TOKENS
from callcentre.web.errors import error_middleware

MAX_BODY = 64 * 1024  # no legitimate request body is larger


def make_app(api_deps: api.ApiDeps, page_deps: pages.PageDeps,
             tokens: TokenRepository, registry: CollectorRegistry | None = None,
             standards_deps: standards.StandardsDeps | None = None) -> web.Application:
    app = web.Application(middlewares=[error_middleware], client_max_size=MAX_BODY)
    if registry is not None:
        app.router.add_get("/metrics", make_aiohttp_handler(registry))
    app[api.API] = api_deps
    app[pages.PAGES] = page_deps
    app[TOKENS] = tokens
    app.add_routes(api.routes)
    app.add_routes(pages.routes)
    if standards_deps is not None:
        app[standards.STANDARDS] = standards_deps
        app.add_routes(standards.routes)
    return app
