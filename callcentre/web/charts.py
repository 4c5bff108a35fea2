"""A small server-side SVG bar chart: works without JavaScript, with a text alternative.

Its words and numbers are the chosen language's. Time runs left to right in every
language (the SVG says ``direction="ltr"``); the table beside it reads in the page's own
direction.
"""

from __future__ import annotations

from callcentre.services.standards import Report
from callcentre.web.i18n import Lang
from callcentre.web.layout import esc
from callcentre.web.standards_view import pct, period_label

WIDTH, HEIGHT, PAD = 640, 220, 30


def trend_chart(report: Report, lang: Lang) -> str:
    first = report.thresholds[0]
    target = report.targets.service_level.get(first)
    n = max(1, len(report.trend))
    slot = (WIDTH - 2 * PAD) / n
    bars = []
    for i, (period, s) in enumerate(report.trend):
        share = s.service_level.get(first)
        h = 0.0 if share is None else share * (HEIGHT - 2 * PAD)
        x = PAD + i * slot + slot * 0.15
        label = esc(pct(lang, share) if share is None else lang.percent(share, 0))
        bars.append(
            f'<rect x="{x:.1f}" y="{HEIGHT - PAD - h:.1f}" width="{slot * 0.7:.1f}" '
            f'height="{h:.1f}" fill="#1d4f91"><title>{esc(period_label(period, lang))}: '
            f'{label}</title></rect><text x="{x:.1f}" y="{HEIGHT - PAD - h - 4:.1f}">{label}</text>'
            f'<text x="{x:.1f}" y="{HEIGHT - 8}">{esc(lang.date(period.first_day, "d MMM"))}</text>')
    return _figure(report, lang, "".join(bars) + _target_line(target, lang))


def _target_line(target: float | None, lang: Lang) -> str:
    if target is None:
        return ""
    y = HEIGHT - PAD - target * (HEIGHT - 2 * PAD)
    words = esc(lang.gettext("target {share}").format(share=lang.percent(target, 0)))
    return (f'<line x1="{PAD}" x2="{WIDTH - PAD}" y1="{y:.1f}" y2="{y:.1f}" stroke="#a4120d" '
            f'stroke-width="2" stroke-dasharray="6 4"/><text x="{WIDTH - PAD}" '
            f'y="{y - 4:.1f}" text-anchor="end">{words}</text>')


def _figure(report: Report, lang: Lang, marks: str) -> str:
    summary = esc(lang.gettext(
        "Share of calls answered within {seconds} seconds in each recent period; the table "
        "below gives the figures.").format(seconds=lang.number(report.thresholds[0])))
    return (f'<figure><svg role="img" aria-label="{summary}" viewBox="0 0 {WIDTH} {HEIGHT}" '
            f'width="100%" style="max-width:{WIDTH}px" direction="ltr">{marks}</svg>'
            f"<figcaption>{summary}</figcaption></figure>")
