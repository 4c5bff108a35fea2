"""The standards page's HTML (public and internal), in the language the request chose.

Every word comes from the gettext catalogues through ``Lang`` (web/i18n.py); the page's own
links (the language switch, the period form, the downloads) keep the chosen language.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode

from callcentre.domain.periods import PeriodKind
from callcentre.services.standards import Report
from callcentre.web.charts import trend_chart
from callcentre.web.i18n import N_, Lang
from callcentre.web.layout import esc, page
from callcentre.web.standards_view import pct, period_label, report_rows

KIND = {PeriodKind.DAY: N_("day"), PeriodKind.WEEK: N_("week"), PeriodKind.MONTH: N_("month")}
RECENT = {PeriodKind.DAY: N_("Recent days"), PeriodKind.WEEK: N_("Recent weeks"),
          PeriodKind.MONTH: N_("Recent months")}
OVER_RECENT = {PeriodKind.DAY: N_("Over recent days"), PeriodKind.WEEK: N_("Over recent weeks"),
               PeriodKind.MONTH: N_("Over recent months")}
KEPT = ("period", "date", "from", "to", "queue", "site")  # the query a language switch carries over


@dataclass(frozen=True)
class PageRequest:
    """What the page is asked for: where it is, in which language, with which query."""

    path: str
    lang: Lang
    offered: tuple[Lang, ...]  # the configured languages, the first the default
    query: Mapping[str, str]

    def href(self, code: str) -> str:
        """This page in the language ``code``, showing the same period."""
        query = {k: v for k in KEPT if (v := self.query.get(k))}
        return f"{self.path}?{urlencode({**query, 'lang': code})}"


def language_switch(req: PageRequest) -> str:
    if len(req.offered) < 2:
        return ""
    items = "".join(
        f'<li><a href="{esc(req.href(lang.code))}" hreflang="{esc(lang.tag)}" '
        f'lang="{esc(lang.tag)}" dir="{lang.direction}"'
        f"{_CURRENT if lang.code == req.lang.code else ''}>{esc(lang.name)}</a></li>"
        for lang in req.offered)
    label = esc(req.lang.gettext("Languages"))
    return f'<nav class="languages" aria-label="{label}"><ul>{items}</ul></nav>'


_CURRENT = ' aria-current="true"'


def _figures_table(report: Report, lang: Lang) -> str:
    _ = lang.gettext
    body, met_word, missed_word = [], esc(_("met")), esc(_("not met"))
    for row in report_rows(report, lang):
        met = "" if row.met is None else (
            f'<span class="met">{met_word}</span>' if row.met
            else f'<span class="missed">{missed_word}</span>')
        body.append(f'<tr><th scope="row">{esc(row.figure)}</th><td class="num">{esc(row.shown)}'
                    f'</td><td>{esc(row.target)} {met}</td>'
                    f'<td class="formula">{esc(row.formula)}</td></tr>')
    heads = (_("Measure"), _("Result"), _("Our promise"), _("How it is worked out"))
    return _scrolling("figures", _("How we did"), heads, "".join(body))


def _trend_table(report: Report, lang: Lang) -> str:
    _, first = lang.gettext, report.thresholds[0]
    cells = "".join(
        f'<tr><th scope="row">{esc(period_label(p, lang))}</th>'
        f'<td class="num">{esc(lang.number(s.offered))}</td>'
        f'<td class="num">{esc(pct(lang, s.service_level[first]))}</td></tr>'
        for p, s in report.trend)
    heads = (_("Period"), _("Calls offered"),
             _("Answered within {seconds} s").format(seconds=lang.number(first)))
    return _scrolling("trend", _(RECENT[report.period.kind]), heads, cells)


def _scrolling(name: str, caption: str, heads: tuple[str, ...], rows: str) -> str:
    """A table that scrolls sideways by itself on a narrow screen (a phone, 400 % zoom), so
    the page never does (WCAG 1.4.10); focusable, so a keyboard can scroll it too."""
    cols = "".join(f'<th scope="col">{esc(h)}</th>' for h in heads)
    return (f'<div class="scroll" role="region" tabindex="0" aria-labelledby="{name}-caption">'
            f'<table><caption id="{name}-caption">{esc(caption)}</caption><thead><tr>{cols}'
            f"</tr></thead><tbody>{rows}</tbody></table></div>")


def _period_form(report: Report, queues: list[str], req: PageRequest,
                 sites: tuple[str, ...]) -> str:
    words = {k: esc(req.lang.gettext(KIND[k])) for k in PeriodKind}
    options = "".join(
        f'<option value="{k.value}"{" selected" if k is report.period.kind else ""}>'
        f"{words[k]}</option>" for k in PeriodKind)
    period, day, show = (_label(req, w) for w in (N_("Period"), N_("Including the day"),
                                                  N_("Show")))
    return (f'<form class="period" method="get" action="{esc(req.path)}">'
            f'<input type="hidden" name="lang" value="{esc(req.lang.code)}">'
            f'<label>{period}<select name="period">{options}</select></label>'
            f'<label>{day}<input type="date" name="date" '
            f'value="{report.period.first_day.isoformat()}"></label>'
            f'{_queue_select(report, queues, req)}{_site_select(report, sites, req)}'
            f'<button type="submit">{show}</button></form>')


def _label(req: PageRequest, word: str) -> str:
    return esc(req.lang.gettext(word))


def _queue_select(report: Report, queues: list[str], req: PageRequest) -> str:
    if not queues:
        return ""
    return _select(req, "queue", N_("Queue"), N_("all queues"), queues, report.queue)


def _site_select(report: Report, sites: tuple[str, ...], req: PageRequest) -> str:
    """With several PBXs: each site's figures (its queues), or the whole council's."""
    if len(sites) < 2:
        return ""
    return _select(req, "site", N_("Site"), N_("all sites"), sites, report.site)


def _select(req: PageRequest, name: str, label: str, every: str, values: Sequence[str],
            chosen: str | None) -> str:
    """A labelled choice of ``values``, or ``every`` (the empty value) of them."""
    options = "".join(f'<option value="{esc(v)}"{" selected" if v == chosen else ""}>'
                      f"{esc(v)}</option>" for v in values)
    return (f'<label>{_label(req, label)}<select name="{name}"><option value="">'
            f"{_label(req, every)}</option>{options}</select></label>")


def _downloads(report: Report, req: PageRequest) -> str:
    p = report.period
    query = {"from": p.first_day.isoformat(),
             "to": (p.end_day - timedelta(days=1)).isoformat(), "lang": req.lang.code}
    if report.queue:
        query["queue"] = report.queue
    if report.site:
        query["site"] = report.site
    links = {kind: f'<a href="{esc(path)}?{esc(urlencode(query))}">{kind}</a>'
             for kind, path in (("CSV", "/api/standards.csv"), ("JSON", "/api/standards"))}
    # the sentence is escaped before the links go into it: only they are markup
    sentence = esc(req.lang.gettext("Download these figures: {csv} or {json}."))
    return "<p>" + sentence.format(csv=links["CSV"], json=links["JSON"]) + "</p>"


def _english(html: str) -> str:
    """Managers' staffing advice (web/staffing_view.py) is in English only, and says so."""
    return f'<div lang="en" dir="ltr">{html}</div>' if html else ""


def render(report: Report, council: str, req: PageRequest, queues: list[str],
           extra: str = "", sites: tuple[str, ...] = ()) -> str:
    _, lang = req.lang.gettext, req.lang
    intro = _("How quickly we answer your calls, and how often callers have to give up or "
              "call again. Figures are worked out from our call records; short abandons are "
              "calls where the caller hung up within {seconds} seconds.").format(
                  seconds=lang.number(report.standards.short_abandon_seconds))
    heading = _("Our telephone service: {period}").format(
        period=period_label(report.period, lang))
    published = _("Published by {council}.").format(council=council)
    over_recent = _(OVER_RECENT[report.period.kind])
    body = (f"<h1>{esc(heading)}</h1><p>{esc(intro)}</p>"
            f"{_period_form(report, queues, req, sites)}{_figures_table(report, lang)}"
            f"<h2>{esc(over_recent)}</h2>"
            f"{trend_chart(report, lang)}{_trend_table(report, lang)}{_english(extra)}"
            f"{_downloads(report, req)}"
            f"<p>{esc(published)}</p>")
    return page(heading, body, lang=lang.tag, direction=lang.direction,
                header=language_switch(req))
