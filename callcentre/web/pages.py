"""Health and the home page (a plain, accessible status page; no personal data shown)."""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from callcentre.phones import mask
from callcentre.ports import CallQuery, CallRepository

HealthProbe = Callable[[], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class PageDeps:
    health: HealthProbe
    calls: CallRepository
    tz: ZoneInfo
    banner: str | None = None  # e.g. "DEMO: replaying recorded calls"


PAGES: web.AppKey[PageDeps] = web.AppKey("pages")
routes = web.RouteTableDef()


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    body = await request.app[PAGES].health()
    return web.json_response(body, status=503 if body["status"] == "down" else 200)


@routes.get("/")
async def home(request: web.Request) -> web.Response:
    deps = request.app[PAGES]
    health = await deps.health()
    page = await deps.calls.find(CallQuery(limit=25))
    outcomes = Counter(c.outcome.value if c.outcome else "in progress" for c in page.items)
    rows = "".join(
        f"<tr><td>{c.id}</td><td>{html.escape(c.arrived_at.astimezone(deps.tz).strftime('%d %b %H:%M:%S'))}</td>"
        f"<td>{html.escape(mask(c.caller))}</td><td>{html.escape(c.queue or '-')}</td>"
        f"<td>{html.escape(c.outcome.value if c.outcome else 'in progress')}</td>"
        f"<td>{'-' if c.wait_seconds is None else f'{c.wait_seconds:.1f} s'}</td>"
        f"<td>{html.escape(c.case_ref or '-')}</td><td>{'yes' if c.repeat_of else ''}</td></tr>"
        for c in page.items)
    summary = ", ".join(f"{n} {html.escape(k)}" for k, n in sorted(outcomes.items())) or "none yet"
    body = _TEMPLATE.format(
        nav=NAV, status=html.escape(health["status"]),
        ami=html.escape(str(health["ami"].get("state"))),
        ami_detail=html.escape(str(health["ami"].get("detail") or "")),
        summary=summary, rows=rows or '<tr><td colspan="8">No calls logged yet.</td></tr>')
    return web.Response(text=body, content_type="text/html")


# Every page the service serves to people, so a newcomer finds them from the home page.
LINKS = (("/standards", "Service standards (day, week, month; per queue)"),
         ("/public/standards", "Published standards (for residents; no personal data)"),
         ("/wallboard", "Wallboard (callers waiting now)"),
         ("/agent", "Agents' callback prompts (token needed)"),
         ("/api/standards", "Standards as JSON"), ("/api/standards.csv", "Standards as CSV"),
         ("/healthz", "Health (JSON)"), ("/metrics", "Prometheus metrics"))
NAV = "<nav aria-label=\"Pages\"><ul>" + "".join(
    f'<li><a href="{href}">{html.escape(text)}</a></li>' for href, text in LINKS) + "</ul></nav>"

_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>callcentre</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5rem; color: #111; background: #fff; line-height: 1.5; }}
table {{ border-collapse: collapse; width: 100%; }} th, td {{ text-align: left; padding: .3rem .6rem; border-bottom: 1px solid #999; }}
</style></head><body>
<h1>callcentre</h1>
<p>Service: <strong>{status}</strong>. Asterisk link: <strong>{ami}</strong> {ami_detail}</p>
{nav}
<h2>Latest calls</h2>
<p>Of the latest 25: {summary}. Numbers are masked; the full record is in the API (<code>/api/calls</code>, token needed).</p>
<table><thead><tr><th scope="col">Call</th><th scope="col">Arrived</th><th scope="col">Caller</th><th scope="col">Queue</th>
<th scope="col">Outcome</th><th scope="col">Wait</th><th scope="col">Case</th><th scope="col">Repeat</th></tr></thead>
<tbody>{rows}</tbody></table>
</body></html>
"""
