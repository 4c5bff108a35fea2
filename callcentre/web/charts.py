"""A small server-side SVG bar chart: works without JavaScript, with a text alternative."""

from __future__ import annotations

from callcentre.services.standards import Report
from callcentre.web.layout import esc

WIDTH, HEIGHT, PAD = 640, 220, 30


def trend_chart(report: Report) -> str:
    first = report.thresholds[0]
    target = report.targets.service_level.get(first)
    n = max(1, len(report.trend))
    slot = (WIDTH - 2 * PAD) / n
    bars = []
    for i, (period, s) in enumerate(report.trend):
        share = s.service_level.get(first)
        h = 0.0 if share is None else share * (HEIGHT - 2 * PAD)
        x = PAD + i * slot + slot * 0.15
        label = "no calls" if share is None else f"{share:.0%}"
        bars.append(
            f'<rect x="{x:.1f}" y="{HEIGHT - PAD - h:.1f}" width="{slot * 0.7:.1f}" '
            f'height="{h:.1f}" fill="#1d4f91"><title>{esc(period.label())}: {label}</title></rect>'
            f'<text x="{x:.1f}" y="{HEIGHT - PAD - h - 4:.1f}">{label}</text>'
            f'<text x="{x:.1f}" y="{HEIGHT - 8}">{esc(period.first_day.strftime("%d %b"))}</text>')
    line = ""
    if target is not None:
        y = HEIGHT - PAD - target * (HEIGHT - 2 * PAD)
        line = (f'<line x1="{PAD}" x2="{WIDTH - PAD}" y1="{y:.1f}" y2="{y:.1f}" stroke="#a4120d" '
                f'stroke-width="2" stroke-dasharray="6 4"/><text x="{WIDTH - PAD - 90}" '
                f'y="{y - 4:.1f}">target {target:.0%}</text>')
    summary = (f"Share of calls answered within {first} seconds in each of the last "
               f"{len(report.trend)} {report.period.kind.value}s; the table below gives the figures.")
    return (f'<figure><svg role="img" aria-label="{esc(summary)}" viewBox="0 0 {WIDTH} {HEIGHT}" '
            f'width="100%" style="max-width:{WIDTH}px">{"".join(bars)}{line}</svg>'
            f"<figcaption>{esc(summary)}</figcaption></figure>")
