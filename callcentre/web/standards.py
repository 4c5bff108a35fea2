"""The standards pages (internal and public), their JSON/CSV twins, and the wallboard.

The standards answer in the language the request chose (``?lang=``, else Accept-Language,
else the first of the setting ``languages``): web/i18n.py; the HTML is web/standards_page.py.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from aiohttp import web

from callcentre.domain.periods import Period, PeriodKind
from callcentre.domain.staffing import StaffingAdvice
from callcentre.errors import InvalidInput
from callcentre.services.capacity import CapacityService
from callcentre.services.standards import Report, StandardsService
from callcentre.web.i18n import N_, Lang, Languages
from callcentre.web.layout import esc, page
from callcentre.web.serialise import EARLIEST, LATEST
from callcentre.web.staffing_view import staffing_html, staffing_json
from callcentre.web.standards_page import PageRequest, render
from callcentre.web.standards_view import agent_survey_json, report_json, report_rows, row_json

Wallboard = Callable[[], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class StandardsDeps:
    service: StandardsService
    wallboard: Wallboard
    council: str = "the council"
    capacity: CapacityService | None = None  # staffing advice, managers' (web/auth.py)
    # the council's languages (setting languages); English alone unless the root says more
    languages: Languages = field(default_factory=lambda: Languages(("en",)))


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
    site = None if public else _site(deps.service, q.get("site") or None, queue)
    start, end = _day("from", q.get("from")), _day("to", q.get("to"))
    if start or end:
        return await _range_report(deps.service, start, end, queue, site)
    return await deps.service.report(_kind(q.get("period")), _day("date", q.get("date")), queue,
                                     site=site)


def _site(service: StandardsService, site: str | None, queue: str | None) -> str | None:
    """One of the council's PBXs (sites), for the figures of its queues."""
    if site is None:
        return None
    if site not in service.sites:
        raise InvalidInput(f"site must be one of {', '.join(service.sites)}", field="site")
    if queue is not None:
        raise InvalidInput("give a queue or a site, not both", field="site")
    return site


async def _range_report(service: StandardsService, start: date | None, end: date | None,
                        queue: str | None, site: str | None = None) -> Report:
    """``from``..``to``, both days included."""
    if start is None or end is None:
        raise InvalidInput("give both from and to (dates, both included)", field="from")
    if end < start or (end - start).days > MAX_RANGE_DAYS:
        raise InvalidInput(f"to must be on or after from, at most {MAX_RANGE_DAYS} days later",
                           field="to")
    return await service.range_report(Period(PeriodKind.DAY, start, end + timedelta(days=1)),
                                      queue, site)


def _staffing_asked(value: str | None) -> bool:
    return _yes_no("staffing", value)


async def _advice(deps: StandardsDeps, report: Report) -> StaffingAdvice | None:
    """The staffing of the report's queue, or of its site (its queues pooled, with the
    callbacks its PBX dials), or of the council (every queue pooled)."""
    if deps.capacity is None:
        return None
    if report.site is None:
        return await deps.capacity.advice(report.queue)
    return await deps.capacity.advice(*await deps.service.site_scope(report.site))


def _lang(request: web.Request) -> Lang:
    return request.app[STANDARDS].languages.choose(request.query,
                                                    request.headers.get("Accept-Language"))


def _page_request(request: web.Request, lang: Lang) -> PageRequest:
    return PageRequest(request.path, lang, tuple(request.app[STANDARDS].languages.all),
                       request.query)


def _in(lang: Lang, response: web.Response) -> web.Response:
    """``response`` labelled with its language. It varies with Accept-Language (unless
    ``?lang=`` is given, which is part of the URL a cache keys on anyway)."""
    response.headers["Content-Language"] = lang.tag
    response.headers["Vary"] = "Accept-Language"
    return response


@routes.get("/api/standards")
async def standards_json(request: web.Request) -> web.Response:
    asked = _staffing_asked(request.query.get("staffing"))
    agents = _yes_no("agents", request.query.get("agents"))
    report, lang = await _report(request), _lang(request)
    body = report_json(report, lang)
    if asked:  # a manager's: ACCESS asks for the role when staffing is in the query
        advice = await _advice(request.app[STANDARDS], report)
        body["staffing"] = None if advice is None else staffing_json(advice, report.site)
    if agents:  # a manager's too (ACCESS): agents' own figures are never published
        body["survey_agents"] = agent_survey_json(report.survey_agents)
    return _in(lang, web.json_response(body))


# the CSV's columns; each heading is the chosen language's (web/i18n.py)
CSV_COLUMNS = (N_("period from"), N_("period to"), N_("queue"), N_("figure"), N_("value"),
               N_("target"), N_("met"), N_("how it is worked out"))


def _yes_no(name: str, value: str | None) -> bool:
    if value not in (None, "", "yes", "no"):
        raise InvalidInput(f"{name} must be yes or no", field=name)
    return value == "yes"


@routes.get("/api/standards.csv")
async def standards_csv(request: web.Request) -> web.Response:
    report, lang = await _report(request), _lang(request)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([lang.gettext(c) for c in CSV_COLUMNS])
    for row in report_rows(report, lang):
        data = row_json(row)
        writer.writerow([report.period.first_day, report.period.end_day - timedelta(days=1),
                         _whose(report, lang), data["figure"],
                         data["value"], data["target"] or "", data["met"], data["formula"]])
    name = f"standards-{report.period.first_day}.csv"
    return _in(lang, web.Response(
        text=out.getvalue(), content_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'}))


def _whose(report: Report, lang: Lang) -> str:
    if report.queue:
        return report.queue
    if report.site:
        return lang.gettext("site {name}").format(name=report.site)
    return lang.gettext("all queues")


@routes.get("/standards")
async def standards_page(request: web.Request) -> web.Response:
    deps, lang = request.app[STANDARDS], _lang(request)
    report = await _report(request)
    queues = await deps.service.queues()
    advice = await _advice(deps, report)
    staffing = "" if advice is None else staffing_html(advice, report.site)
    return _in(lang, _html(render(report, deps.council, _page_request(request, lang), queues,
                                  extra=_agents_table(report) + staffing,
                                  sites=deps.service.sites)))


def _agents_table(report: Report) -> str:
    """The survey by agent: on the managers' page only, never on the published one."""
    cells = "".join(
        f'<tr><th scope="row">{esc(a["agent"] or "no agent")}</th><td class="num">'
        f'{a["offered"]}</td><td class="num">{_share(a["response_rate"])}</td>'
        f'<td class="num">{_share(a["first_contact_resolution"])}</td><td class="num">'
        f'{_score(a["mean_satisfaction"])}</td></tr>'
        for a in agent_survey_json(report.survey_agents))
    # managers' own page, in English as the staffing advice is (standards_page.py)
    return ('<div lang="en" dir="ltr"><h2>After-call survey by agent</h2><table><thead><tr><th scope="col">Agent</th>'
            '<th scope="col">Offered</th><th scope="col">Answered</th><th scope="col">'
            'Resolved first time</th><th scope="col">Satisfaction (1-5)</th></tr></thead>'
            f'<tbody>{cells or "<tr><td colspan=5>no surveys in this period</td></tr>"}'
            '</tbody></table></div>')


def _share(x: float | None) -> str:
    return "-" if x is None else f"{x:.1%}"


def _score(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


@routes.get("/public/standards")
async def public_page(request: web.Request) -> web.Response:
    report, lang = await _report(request, public=True), _lang(request)
    return _in(lang, _html(render(report, request.app[STANDARDS].council,
                                  _page_request(request, lang), queues=[])))


def _html(text: str) -> web.Response:
    return web.Response(text=text, content_type="text/html")


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
