"""The audit trail, exported for a time range (admins): JSON, or CSV with ``?format=csv``."""

from __future__ import annotations

import csv
import io
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from callcentre.domain.people import AuditEntry
from callcentre.errors import InvalidInput
from callcentre.web.api import API
from callcentre.web.auth import AUDIT
from callcentre.web.serialise import parse_time

routes = web.RouteTableDef()
FIELDS = ("at", "person", "role", "action", "method", "route", "target", "status")
MAX_RANGE = timedelta(days=400)


def entry_json(e: AuditEntry) -> dict[str, Any]:
    return {**asdict(e), "at": e.at.isoformat()}


@routes.get("/api/audit")
async def export(request: web.Request) -> web.Response:
    """Entries from ``since`` up to ``until`` (ISO 8601; a date alone is local midnight)."""
    tz = request.app[API].tz
    since = parse_time("since", request.query.get("since"), tz)
    until = parse_time("until", request.query.get("until"), tz)
    if since is None or until is None:
        raise InvalidInput("since and until are both required", field="since")
    if not timedelta(0) < until - since <= MAX_RANGE:
        raise InvalidInput("until must be after since, at most 400 days", field="until")
    entries = await request.app[AUDIT].between(since, until)
    fmt = request.query.get("format", "json")
    if fmt == "json":
        return web.json_response({"items": [entry_json(e) for e in entries]})
    if fmt != "csv":
        raise InvalidInput("format must be json or csv", field="format")
    return web.Response(text=as_csv(entries), content_type="text/csv", headers={
        "Content-Disposition": f'attachment; filename="audit-{_day(since)}-{_day(until)}.csv"'})


def as_csv(entries: list[AuditEntry]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(FIELDS)
    for e in entries:
        row = entry_json(e)
        writer.writerow([row[f] for f in FIELDS])
    return out.getvalue()


def _day(t: datetime) -> str:
    return t.date().isoformat()
