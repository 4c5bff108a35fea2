"""Turns a standards report into rows (figure, value, target, formula) for HTML, JSON and CSV."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from callcentre.domain.callback_figures import CallbackPeriod
from callcentre.domain.standards import Standards, Targets
from callcentre.domain.survey import SurveyByAgent, SurveyTally
from callcentre.services.standards import Report


@dataclass(frozen=True)
class Row:
    key: str
    figure: str
    value: float | int | None
    shown: str
    target: str
    met: bool | None
    formula: str


def _pct(x: float | None) -> str:
    return "no calls" if x is None else f"{x:.1%}"


def _secs(x: float | None) -> str:
    return "no calls" if x is None else f"{x:.1f} s"


def rows(s: Standards, thresholds: tuple[int, ...], targets: Targets) -> list[Row]:
    short = s.short_abandon_seconds
    out = [
        Row("calls", "All calls received", s.calls, str(s.calls), "", None,
            "every call that reached the contact centre, whatever happened"),
        Row("offered", "Calls offered", s.offered, str(s.offered), "", None,
            f"answered + abandoned + timed out + left with a key (e.g. for a call-back) + "
            f"let go when no agent was left + left the queue, minus {s.short_abandoned} "
            f"short abandons (caller hung up within {short} s)"),
        Row("answered", "Calls answered", s.answered, str(s.answered), "", None,
            "answered by an agent while the caller was queued"),
    ]
    for t in thresholds:
        share, target = s.service_level.get(t), targets.service_level.get(t)
        out.append(Row(
            f"answered_within_{t}s", f"Answered within {t} seconds", share, _pct(share),
            f"at least {target:.0%}" if target is not None else "",
            None if share is None or target is None else share >= target,
            f"{s.answered_within[t]} answered within {t} s ÷ {s.offered} offered"))
    out += [
        Row("mean_answer_seconds", "Average time to answer", s.mean_answer_seconds,
            _secs(s.mean_answer_seconds), "", None,
            "total time answered callers waited in the queue ÷ calls answered"),
        Row("p90_answer_seconds", "90 % of answered calls waited no longer than",
            s.p90_answer_seconds, "no calls" if s.p90_answer_seconds is None
            else f"{s.p90_answer_seconds} s", "", None,
            "the wait that 90 % of answered calls did not exceed, to the second"),
        Row("abandon_rate", "Callers who hung up while waiting", s.abandon_rate,
            _pct(s.abandon_rate), f"at most {targets.abandon_rate:.0%}",
            None if s.abandon_rate is None else s.abandon_rate <= targets.abandon_rate,
            f"{s.abandoned} abandoned after {short} s ÷ {s.offered} offered"),
        Row("repeat_contacts", "Repeat calls", s.repeat_rate,
            f"{s.repeat_contacts} ({_pct(s.repeat_rate)})", "", None,
            f"{s.repeat_contacts} calls from a number that had already called in the "
            f"previous days ÷ {s.calls} calls"),
        Row("out_of_hours", "Calls outside opening hours", s.out_of_hours, str(s.out_of_hours),
            "", None, "calls that arrived while the contact centre was closed"),
    ]
    return out + record_rows(s)


def record_rows(s: Standards) -> list[Row]:
    """How sure the figures are: what could not be established, and what was checked."""
    return [
        # Nothing hidden: calls whose outcome is unknown leave every rate's denominator.
        Row("unsettled", "Calls whose outcome we could not establish", s.unsettled_rate,
            f"{s.unsettled} ({_pct(s.unsettled_rate)})", "", None,
            f"{s.unsettled} calls that ended while callcentre could not see the telephone "
            f"system ÷ {s.calls} calls; they are left out of the calls offered above"),
        Row("checked", "Calls checked against the telephone system's own record",
            s.checked_rate, f"{s.checked} ({_pct(s.checked_rate)})", "", None,
            f"{s.checked} of {s.calls} calls held against Asterisk's queue log, the record "
            f"auditors use; {s.corrected} of them were corrected from it"),
    ]


def callback_rows(c: CallbackPeriod, target: float) -> list[Row]:
    ratio = c.kept_ratio
    judged = c.kept + c.late + c.missed
    return [
        Row("callbacks_promised", "Call-backs promised", c.promised, str(c.promised), "", None,
            "call-backs we promised in this period (by an agent, at a resident's request "
            "while waiting, after an abandoned call, or for a call while we were closed)"),
        Row("callbacks_kept", "Call-backs made by the time we promised", ratio, _pct_cb(ratio),
            f"at least {target:.0%}", None if ratio is None else ratio >= target,
            f"{c.kept} kept ÷ {judged} due in this period and closed as kept, late or missed "
            f"({c.cancelled} cancelled and {c.still_open} still open are not counted)"),
        Row("callbacks_late", "Call-backs made late", c.late, str(c.late), "", None,
            "resident reached, but after the time we promised"),
        Row("callbacks_missed", "Call-backs missed", c.missed, str(c.missed), "", None,
            f"resident not reached ({c.missed_first_in_time} of them had a first attempt "
            "in time)"),
        Row("callbacks_extended", "Call-back times we moved later", c.extended, str(c.extended),
            "", None, "call-backs due in this period whose time we moved later, "
            "telling the resident"),
    ]


def survey_rows(t: SurveyTally) -> list[Row]:
    """The residents' own word after the call (the post-call keypad survey, #15)."""
    score = t.mean_satisfaction
    return [
        Row("survey_response_rate", "Callers who answered our after-call survey",
            t.response_rate, _pct_none(t.response_rate), "", None,
            f"{t.responded} answered at least one question ÷ {t.offered} offered the survey "
            "(it is offered when the agent ends the call; hanging up or pressing nothing "
            "counts as not answering)"),
        Row("first_contact_resolution", "Resolved on the first call, in callers' own words",
            t.first_contact_resolution, _pct_none(t.first_contact_resolution), "", None,
            f"{t.resolved_yes} said yes ÷ {t.resolved_answers} who answered \"was your "
            "question resolved?\""),
        Row("satisfaction", "Satisfaction, 1 (not at all) to 5 (very)", score,
            "no answers" if score is None else f"{score:.2f} of 5", "", None,
            f"the average of {t.satisfaction_answers} scores given; callers who gave none "
            "are left out"),
    ]


def agent_survey_json(agents: SurveyByAgent) -> list[dict[str, Any]]:
    """Per agent (a manager's view, never published): name, counts and the three figures."""
    return [{"agent": name or None, "offered": t.offered, "responded": t.responded,
             "response_rate": t.response_rate,
             "first_contact_resolution": t.first_contact_resolution,
             "mean_satisfaction": t.mean_satisfaction}
            for name, t in sorted(agents.items())]


def _pct_none(x: float | None) -> str:
    return "no answers" if x is None else f"{x:.1%}"


def _pct_cb(x: float | None) -> str:
    return "none due" if x is None else f"{x:.1%}"


def report_rows(r: Report) -> list[Row]:
    out = rows(r.standards, r.thresholds, r.targets) + survey_rows(r.survey)
    if r.callbacks is not None:
        out += callback_rows(r.callbacks, r.targets.callback_kept)
    return out


def report_json(r: Report) -> dict[str, Any]:
    return {
        "period": {"kind": r.period.kind.value, "from": r.period.first_day.isoformat(),
                   "to": r.period.end_day.isoformat(), "label": r.period.label()},
        "queue": r.queue,
        "figures": [row_json(x) for x in report_rows(r)],
        "trend": [{"from": p.first_day.isoformat(), "to": p.end_day.isoformat(),
                   "label": p.label(), "offered": s.offered,
                   "service_level": {str(t): s.service_level.get(t) for t in r.thresholds}}
                  for p, s in r.trend],
        "definitions": {"to": "exclusive: the period ends before this day",
                        "short_abandon_seconds": r.standards.short_abandon_seconds},
    }


def row_json(row: Row) -> dict[str, Any]:
    return {"key": row.key, "figure": row.figure, "value": row.value, "shown": row.shown,
            "target": row.target or None, "met": row.met, "formula": row.formula}
