"""The aiohttp application factory: routes, middleware and typed state."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from aiohttp import web
from aiohttp.typedefs import Middleware
from prometheus_client import CollectorRegistry

from callcentre.observability.exposition import CONTENT_TYPE, Exposition
from callcentre.ports import AuditRepository, TokenRepository
from callcentre.web import api, callbacks, openapi, pages, signin, standards
from callcentre.web import audit as audit_web
from callcentre.web import tokens as tokens_web
from callcentre.web.auth import (
    AUDIT,
    CLOCK,
    OPEN_ROUTES,
    REFUSED,
    TOKENS,
    RefusedTokens,
    access_middleware,
    audit_middleware,
)
from callcentre.web.errors import error_middleware
from callcentre.web.layout import with_banner
from callcentre.web.parsing import KNOWN, known_only

MAX_BODY = 64 * 1024  # no legitimate request body is larger


Handler = Callable[[web.Request], Awaitable[web.Response]]


def metrics_handler(registry: CollectorRegistry, refresh: Callable[[], Awaitable[None]]) -> Handler:
    """``/metrics``: the registry in Prometheus's text format.

    Not prometheus-client's own aiohttp handler: for a large council (50 queues of
    histograms) its rendering took 13 ms p50 and over 50 ms p99 a scrape
    (bench/metrics.py), against a 50 ms p99 budget; ``Exposition`` writes the same
    samples in about half the time. Uncompressed: the body is a few hundred kB on the
    council's own network, and compressing it cost more than it saved here.
    """
    exposition = Exposition(registry)

    async def handle(request: web.Request) -> web.Response:
        await refresh()
        return web.Response(body=exposition.render(), headers={"Content-Type": CONTENT_TYPE})

    return handle


async def _nothing() -> None:
    return None


def banner_middleware(banner: str) -> Middleware:
    """Every HTML page starts with ``banner``; every response says so in a header too
    (the demo: no one should mistake a replay for the council's live figures)."""

    @web.middleware
    async def middleware(request: web.Request,
                         handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
                         ) -> web.StreamResponse:
        response = await handler(request)
        response.headers["X-Callcentre-Banner"] = banner.encode("ascii", "replace").decode()
        if (isinstance(response, web.Response) and response.content_type == "text/html"
                and response.text is not None):
            response.text = with_banner(response.text, banner)
        return response

    return middleware


def make_app(api_deps: api.ApiDeps, page_deps: pages.PageDeps,
             tokens: TokenRepository, registry: CollectorRegistry | None = None,
             standards_deps: standards.StandardsDeps | None = None,
             callback_deps: callbacks.CallbackWebDeps | None = None,
             refresh: Callable[[], Awaitable[None]] | None = None,
             connections: Middleware | None = None,
             clock: Callable[[], datetime] | None = None,
             open_routes: frozenset[str] = frozenset(),
             audit: AuditRepository | None = None,
             signin_deps: signin.SigninDeps | None = None) -> web.Application:
    """``connections``: web/limits.py's middleware, which marks a connection busy;
    ``open_routes``: routes anyone may use beyond the public ones (http_open_routes)."""
    middlewares: list[Middleware] = [audit_middleware, error_middleware, access_middleware,
                                     known_only]
    if page_deps.banner:
        middlewares.insert(0, banner_middleware(page_deps.banner))
    if connections is not None:
        middlewares.insert(0, connections)
    app = web.Application(middlewares=middlewares, client_max_size=MAX_BODY)
    if registry is not None:
        app.router.add_get("/metrics", metrics_handler(registry, refresh or _nothing))
    app[api.API] = api_deps
    app[pages.PAGES] = page_deps
    app[TOKENS] = tokens
    app[REFUSED] = RefusedTokens()
    app[CLOCK] = clock or (lambda: datetime.now(UTC))
    app[OPEN_ROUTES] = open_routes
    app[KNOWN] = openapi.KNOWN
    app[signin.SIGNIN] = signin_deps or signin.SigninDeps()
    app.on_cleanup.append(signin.close)
    app.add_routes(signin.routes)
    if audit is not None:
        app[AUDIT] = audit
        app.add_routes(audit_web.routes)
    app.add_routes(tokens_web.routes)
    app.add_routes(api.routes)
    app.add_routes(pages.routes)
    app.add_routes(openapi.routes)
    if standards_deps is not None:
        app[standards.STANDARDS] = standards_deps
        app.add_routes(standards.routes)
    if callback_deps is not None:
        callbacks.setup(app, callback_deps)
    return app
