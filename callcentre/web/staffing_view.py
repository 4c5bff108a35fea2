"""Staffing advice as JSON (``/api/standards?staffing=yes``) and as the managers' section of
``/standards``: per day, the half-hours with calls expected, agents needed beside agents had."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta
from typing import Any

from callcentre.domain.capacity import CapacityModel
from callcentre.domain.erlang import Outlook
from callcentre.domain.staffing import SlotAdvice, StaffingAdvice
from callcentre.web.layout import esc

DASH = "&ndash;"  # not known: HTML, like every cell here


def _num(x: float | None, digits: int = 4) -> float | None:
    return None if x is None or math.isinf(x) else round(x, digits)


def _outlook_json(o: Outlook) -> dict[str, Any]:
    return {"agents": o.agents, "service_level": _num(o.service_level),
            "waiting_rate": _num(o.p_wait), "abandon_rate": _num(o.p_abandon),
            "mean_wait_seconds": _num(o.mean_wait, 1)}


def method(m: CapacityModel) -> str:
    return "Erlang A" if m.patience_seconds else "Erlang C"


def model_json(m: CapacityModel) -> dict[str, Any]:
    return {"from": m.first.isoformat(), "to": m.end.isoformat(), "weeks": m.weeks,
            "averaging": f"plain mean of the {m.weeks} whole weeks before today",
            "calls": m.calls, "abandoned": m.abandoned,
            "handling_seconds": _num(m.handling_seconds, 1),
            "patience_seconds": _num(m.patience_seconds, 1), "method": method(m),
            "agents_had": "different agents who answered calls (log-ins are not recorded)"}


def _slot_json(s: SlotAdvice) -> dict[str, Any]:
    return {"start": s.start.isoformat(), "calls": _num(s.calls, 2), "needed": s.needed,
            "inbound": s.inbound, "callbacks": s.callbacks, "had": s.had,
            "had_service_level": _num(s.had_outlook.service_level) if s.had_outlook else None}


def staffing_json(a: StaffingAdvice, site: str | None = None) -> dict[str, Any]:
    """``site``: the advice is that site's (its queues pooled)."""
    busiest = a.busiest
    return {
        "queue": a.model.queue,
        "site": site,
        "standard": {"threshold_seconds": a.standard.threshold, "target": a.standard.target},
        "model": model_json(a.model),
        "week_from": a.first_day.isoformat(),
        "half_hours": [_slot_json(s) for s in a.slots],
        "what_if": None if busiest is None else {
            "start": busiest.start.isoformat(), "calls": _num(busiest.calls, 2),
            "agents": [_outlook_json(o) for o in a.what_if]},
    }


def _day(d: date | datetime) -> str:
    return f"{d:%A} {d.day} {d:%B}"


def _pct(x: float | None) -> str:
    return DASH if x is None else f"{x:.0%}"


def _minutes(seconds: float | None) -> str:
    if seconds is None or math.isinf(seconds):
        return DASH
    return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"


def _intro(a: StaffingAdvice) -> str:
    m = a.model
    patience = (f"residents who wait give up after {_minutes(m.patience_seconds)} on average, "
                "so the advice allows for that (Erlang A)" if m.patience_seconds else
                "nobody gave up waiting, so the advice assumes residents wait (Erlang C)")
    return (f"<p>Agents needed to answer {a.standard.target:.0%} of calls within "
            f"{a.standard.threshold} s in each half-hour, learned from the "
            f"{m.weeks} weeks from {_day(m.first)} to "
            f"{_day(m.end - timedelta(days=1))} ({m.calls} calls queued; "
            f"each weekday's half-hour is the plain average of those weeks). Calls take "
            f"{_minutes(m.handling_seconds)} to handle on average; {esc(patience)}. "
            "Needed includes agents for the call-backs expected then. Last week is how many "
            "different agents answered calls then (log-ins are not recorded, so at least "
            "that many were on).</p>")


def _had_level(s: SlotAdvice) -> str:
    return _pct(s.had_outlook.service_level) if s.had_outlook else DASH


def _day_table(day_slots: list[SlotAdvice]) -> str:
    rows = "".join(
        f'<tr><th scope="row">{s.start:%H:%M}</th><td class="num">{s.calls:.1f}</td>'
        f'<td class="num">{"too many" if s.needed is None else s.needed}'
        f'{f" ({s.callbacks} for call-backs)" if s.callbacks else ""}</td>'
        f'<td class="num">{DASH if s.had is None else s.had}</td>'
        f'<td class="num">{_had_level(s)}</td></tr>' for s in day_slots)
    return ('<table><thead><tr><th scope="col">Half-hour</th><th scope="col">Calls expected</th>'
            '<th scope="col">Agents needed</th><th scope="col">Agents last week</th>'
            '<th scope="col">Answered in time with them</th></tr></thead>'
            f"<tbody>{rows}</tbody></table>")


def _what_if(a: StaffingAdvice) -> str:
    if a.busiest is None or not a.what_if:
        return ""
    rows = "".join(
        f'<tr><th scope="row">{o.agents}</th><td class="num">{_pct(o.service_level)}</td>'
        f'<td class="num">{_pct(o.p_abandon)}</td><td class="num">'
        f'{DASH if math.isinf(o.mean_wait) else f"{o.mean_wait:.0f} s"}</td></tr>'
        for o in a.what_if)
    b = a.busiest
    return (f"<h3>What if: the busiest half-hour, {b.start:%A %H:%M} ({b.calls:.0f} calls)</h3>"
            '<table><thead><tr><th scope="col">Agents on the queue</th>'
            f'<th scope="col">Answered within {a.standard.threshold} s</th>'
            '<th scope="col">Give up waiting</th><th scope="col">Average wait</th></tr></thead>'
            f"<tbody>{rows}</tbody></table>")


def staffing_html(a: StaffingAdvice, site: str | None = None) -> str:
    days = []
    for day, slots in a.days():
        if not slots:
            days.append(f"<p>{_day(day)}: no calls expected.</p>")
            continue
        peak = max(slots, key=lambda s: math.inf if s.needed is None else s.needed)
        most = "too many" if peak.needed is None else peak.needed
        days.append(f"<details><summary>{_day(day)}: up to {most} agents "
                    f"(at {peak.start:%H:%M})</summary>{_day_table(slots)}</details>")
    where = f" at {esc(site)}" if site else ""
    return (f'<section id="staffing"><h2>Staffing{where} for the week from '
            f"{_day(a.first_day)}</h2>{_intro(a)}{''.join(days)}{_what_if(a)}</section>")
