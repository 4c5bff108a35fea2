"""The standards pages (internal and public), their JSON/CSV twins, and the wallboard."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from aiohttp import web

from callcentre.domain.periods import Period, PeriodKind
from callcentre.errors import InvalidInput
from callcentre.services.capacity import CapacityService
from callcentre.services.standards import Report, StandardsService
from callcentre.web.charts import trend_chart
from callcentre.web.layout import esc, page
from callcentre.web.serialise import EARLIEST, LATEST
from callcentre.web.staffing_view import staffing_html, staffing_json
from callcentre.web.standards_view import agent_survey_json, report_json, report_rows, row_json

Wallboard = Callable[[], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class StandardsDeps:
    service: StandardsService
    wallboard: Wallboard
    council: str = "the council"
    capacity: CapacityService | None = None  # staffing advice, managers' (web/auth.py)


STANDARDS: web.AppKey[StandardsDeps] = web.AppKey("standards")
routes = web.RouteTableDef()
MAX_RANGE_DAYS = 400


def _day(name: str, value: str | None) -> date | None:
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{name} must be a date like 2026-11-23", field=name) from None
    if not EARLIEST.date() <= day < LATEST.date():  # a period around year 1 or 9999 overflows
        raise InvalidInput(f"{name} must be between {EARLIEST.year} and {LATEST.year - 1}",
                           field=name)
    return day


def _kind(value: str | None) -> PeriodKind:
    try:
        return PeriodKind(value or "month")
    except ValueError:
        raise InvalidInput("period must be day, week or month", field="period") from None


async def _report(request: web.Request, public: bool = False) -> Report:
    deps, q = request.app[STANDARDS], request.query
    queue = None if public else (q.get("queue") or None)
    start, end = _day("from", q.get("from")), _day("to", q.get("to"))
    if start or end:
        return await _range_report(deps.service, start, end, queue)
    return await deps.service.report(_kind(q.get("period")), _day("date", q.get("date")), queue)


async def _range_report(service: StandardsService, start: date | None, end: date | None,
                        queue: str | None) -> Report:
    """``from``..``to``, both days included."""
    if start is None or end is None:
        raise InvalidInput("give both from and to (dates, both included)", field="from")
    if end < start or (end - start).days > MAX_RANGE_DAYS:
        raise InvalidInput(f"to must be on or after from, at most {MAX_RANGE_DAYS} days later",
                           field="to")
    period = Period(PeriodKind.DAY, start, end + timedelta(days=1))
    standards = await service.standards(period.first_day, period.end_day, queue)
    callbacks = await service.callback_period(period) if queue is None else None
    return Report(period, standards, [(period, standards)], service.thresholds,
                  service.targets, queue, callbacks, await service.survey(period, queue))


def _staffing_asked(value: str | None) -> bool:
    return _yes_no("staffing", value)


async def _staffing(deps: StandardsDeps, queue: str | None) -> dict[str, Any] | None:
    return None if deps.capacity is None else staffing_json(await deps.capacity.advice(queue))


@routes.get("/api/standards")
async def standards_json(request: web.Request) -> web.Response:
    asked = _staffing_asked(request.query.get("staffing"))
    agents = _yes_no("agents", request.query.get("agents"))
    report = await _report(request)
    body = report_json(report)
    if asked:  # a manager's: ACCESS asks for the role when staffing is in the query
        body["staffing"] = await _staffing(request.app[STANDARDS], report.queue)
    if agents:  # a manager's too (ACCESS): agents' own figures are never published
        body["survey_agents"] = agent_survey_json(report.survey_agents)
    return web.json_response(body)


def _yes_no(name: str, value: str | None) -> bool:
    if value not in (None, "", "yes", "no"):
        raise InvalidInput(f"{name} must be yes or no", field=name)
    return value == "yes"


@routes.get("/api/standards.csv")
async def standards_csv(request: web.Request) -> web.Response:
    report = await _report(request)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["period_from", "period_to", "queue", "figure", "value", "target", "met",
                     "formula"])
    for row in report_rows(report):
        data = row_json(row)
        writer.writerow([report.period.first_day, report.period.end_day - timedelta(days=1),
                         report.queue or "all", data["figure"], data["value"],
                         data["target"] or "", data["met"], data["formula"]])
    name = f"standards-{report.period.first_day}.csv"
    return web.Response(text=out.getvalue(), content_type="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})


@routes.get("/standards")
async def standards_page(request: web.Request) -> web.Response:
    deps = request.app[STANDARDS]
    report = await _report(request)
    queues = await deps.service.queues()
    staffing = (staffing_html(await deps.capacity.advice(report.queue))
                if deps.capacity is not None else "")
    return _html(render(report, deps.council, public=False, queues=queues,
                        extra=_agents_table(report) + staffing))


def _agents_table(report: Report) -> str:
    """The survey by agent: on the managers' page only, never on the published one."""
    cells = "".join(
        f'<tr><th scope="row">{esc(a["agent"] or "no agent")}</th><td class="num">'
        f'{a["offered"]}</td><td class="num">{_share(a["response_rate"])}</td>'
        f'<td class="num">{_share(a["first_contact_resolution"])}</td><td class="num">'
        f'{_score(a["mean_satisfaction"])}</td></tr>'
        for a in agent_survey_json(report.survey_agents))
    return ('<h2>After-call survey by agent</h2><table><thead><tr><th scope="col">Agent</th>'
            '<th scope="col">Offered</th><th scope="col">Answered</th><th scope="col">'
            'Resolved first time</th><th scope="col">Satisfaction (1-5)</th></tr></thead>'
            f'<tbody>{cells or "<tr><td colspan=5>no surveys in this period</td></tr>"}'
            '</tbody></table>')


def _share(x: float | None) -> str:
    return "-" if x is None else f"{x:.1%}"


def _score(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


@routes.get("/public/standards")
async def public_page(request: web.Request) -> web.Response:
    report = await _report(request, public=True)
    return _html(render(report, request.app[STANDARDS].council, public=True, queues=[]))


def _html(text: str) -> web.Response:
    return web.Response(text=text, content_type="text/html")


def _figures_table(report: Report) -> str:
    body = []
    for row in report_rows(report):
        met = "" if row.met is None else (
            '<span class="met">met</span>' if row.met else '<span class="missed">not met</span>')
        body.append(f'<tr><th scope="row">{esc(row.figure)}</th><td class="num">{esc(row.shown)}'
                    f'</td><td>{esc(row.target)} {met}</td>'
                    f'<td class="formula">{esc(row.formula)}</td></tr>')
    return ('<table><caption>How we did</caption><thead><tr><th scope="col">Measure</th>'
            '<th scope="col">Result</th><th scope="col">Our promise</th>'
            '<th scope="col">How it is worked out</th></tr></thead><tbody>'
            + "".join(body) + "</tbody></table>")


def _trend_table(report: Report) -> str:
    first = report.thresholds[0]
    cells = "".join(
        f'<tr><th scope="row">{esc(p.label())}</th><td class="num">{s.offered}</td>'
        f'<td class="num">{"no calls" if s.service_level[first] is None else f"{s.service_level[first]:.1%}"}</td></tr>'
        for p, s in report.trend)
    return (f'<table><caption>Recent {report.period.kind.value}s</caption><thead><tr>'
            f'<th scope="col">Period</th><th scope="col">Calls offered</th>'
            f'<th scope="col">Answered within {first} s</th></tr></thead><tbody>{cells}</tbody></table>')


def _period_form(report: Report, queues: list[str], action: str) -> str:
    options = "".join(
        f'<option value="{k.value}"{" selected" if k is report.period.kind else ""}>{k.value}</option>'
        for k in PeriodKind)
    queue_select = ""
    if queues:
        qs = "".join(f'<option value="{esc(q)}"{" selected" if q == report.queue else ""}>{esc(q)}</option>'
                     for q in queues)
        queue_select = (f'<label>Queue<select name="queue"><option value="">all queues</option>'
                        f"{qs}</select></label>")
    return (f'<form class="period" method="get" action="{action}"><label>Period<select name="period">'
            f'{options}</select></label><label>Including the day<input type="date" name="date" '
            f'value="{report.period.first_day.isoformat()}"></label>{queue_select}'
            '<button type="submit">Show</button></form>')


def render(report: Report, council: str, public: bool, queues: list[str],
           extra: str = "") -> str:
    action = "/public/standards" if public else "/standards"
    p = report.period
    query = f"from={p.first_day}&to={p.end_day - timedelta(days=1)}"
    if report.queue:
        query += f"&queue={report.queue}"
    intro = ("How quickly we answer your calls, and how often callers have to give up or call "
             "again. Figures are worked out from our call records; short abandons are calls "
             f"where the caller hung up within {report.standards.short_abandon_seconds} seconds.")
    heading = f"Our telephone service: {p.label()}"
    body = (f"<h1>{esc(heading)}</h1><p>{esc(intro)}</p>{_period_form(report, queues, action)}"
            f"{_figures_table(report)}<h2>Over recent {p.kind.value}s</h2>"
            f"{trend_chart(report)}{_trend_table(report)}{extra}"
            f'<p>Download these figures: <a href="/api/standards.csv?{esc(query)}">CSV</a> or '
            f'<a href="/api/standards?{esc(query)}">JSON</a>.</p>'
            f"<p>Published by {esc(council)}.</p>")
    return page(heading, body)


@routes.get("/api/wallboard")
async def wallboard_json(request: web.Request) -> web.Response:
    return web.json_response(await request.app[STANDARDS].wallboard())


@routes.get("/wallboard")
async def wallboard_page(request: web.Request) -> web.Response:
    data = await request.app[STANDARDS].wallboard()
    head = ('<noscript><meta http-equiv="refresh" content="15"></noscript>'
            f"<script>{_WALLBOARD_JS}</script>")
    tiles = "".join(
        f'<div class="tile"><span class="label">{esc(t["label"])}</span>'
        f'<span class="value" data-key="{esc(t["key"])}">{esc(t["shown"])}</span></div>'
        for t in data["tiles"])
    body = (f'<h1>Wallboard</h1><p aria-live="polite">Updated <span id="updated">'
            f'{esc(data["updated"])}</span></p><div class="tiles">{tiles}</div>'
            f'<script type="application/json" id="initial">{json.dumps(data)}</script>')
    return _html(page("Wallboard", body, head))


_WALLBOARD_JS = """
async function refresh() {
  try {
    const r = await fetch('/api/wallboard'); if (!r.ok) return;
    const d = await r.json();
    for (const t of d.tiles) {
      const el = document.querySelector('[data-key="' + t.key + '"]'); if (el) el.textContent = t.shown;
    }
    document.getElementById('updated').textContent = d.updated;
  } catch (e) { /* keep the last figures; try again */ }
}
setInterval(refresh, 5000);
"""
