"""Turns a standards report into rows (figure, value, target, formula) for HTML, JSON and CSV.

Every word is the chosen language's (web/i18n.py): the rows are what the public reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from callcentre.domain.callback_figures import CallbackPeriod
from callcentre.domain.periods import Period, PeriodKind
from callcentre.domain.standards import Standards, Targets
from callcentre.domain.survey import SurveyByAgent, SurveyTally
from callcentre.services.standards import Report
from callcentre.web.i18n import N_, Lang

NO_CALLS, NONE_DUE, NO_ANSWERS = N_("no calls"), N_("none due"), N_("no answers")


@dataclass(frozen=True)
class Row:
    key: str
    figure: str
    value: float | int | None
    shown: str
    target: str
    met: bool | None
    formula: str


def pct(lang: Lang, x: float | None, none: str = NO_CALLS) -> str:
    return lang.gettext(none) if x is None else lang.percent(x)


def _secs(lang: Lang, x: float | None, pattern: str = "0.0") -> str:
    if x is None:
        return lang.gettext(NO_CALLS)
    return lang.gettext("{seconds} s").format(seconds=lang.number(x, pattern))


def _count(lang: Lang, n: int, share: float | None) -> str:
    return f"{lang.number(n)} ({pct(lang, share)})"


def rows(s: Standards, thresholds: tuple[int, ...], targets: Targets, lang: Lang) -> list[Row]:
    _, n = lang.gettext, lang.number
    short, ninety = n(s.short_abandon_seconds), lang.percent(0.9, 0)
    out = [
        Row("calls", _("All calls received"), s.calls, n(s.calls), "", None,
            _("every call that reached the contact centre, whatever happened")),
        Row("offered", _("Calls offered"), s.offered, n(s.offered), "", None,
            _("answered + abandoned + timed out + left with a key (e.g. for a call-back) + "
              "let go when no agent was left + left the queue, minus {short_abandoned} "
              "short abandons (caller hung up within {seconds} s)").format(
                short_abandoned=n(s.short_abandoned), seconds=short)),
        Row("answered", _("Calls answered"), s.answered, n(s.answered), "", None,
            _("answered by an agent while the caller was queued")),
    ]
    out += [_service_level_row(s, t, targets, lang) for t in thresholds]
    out += [
        Row("mean_answer_seconds", _("Average time to answer"), s.mean_answer_seconds,
            _secs(lang, s.mean_answer_seconds), "", None,
            _("total time answered callers waited in the queue ÷ calls answered")),
        Row("p90_answer_seconds", _("{share} of answered calls waited no longer than").format(
            share=ninety), s.p90_answer_seconds, _secs(lang, s.p90_answer_seconds, "0"), "", None,
            _("the wait that {share} of answered calls did not exceed, to the second").format(
                share=ninety)),
        Row("abandon_rate", _("Callers who hung up while waiting"), s.abandon_rate,
            pct(lang, s.abandon_rate), _at_most(lang, targets.abandon_rate),
            None if s.abandon_rate is None else s.abandon_rate <= targets.abandon_rate,
            _("{abandoned} abandoned after {seconds} s ÷ {offered} offered").format(
                abandoned=n(s.abandoned), seconds=short, offered=n(s.offered))),
        Row("repeat_contacts", _("Repeat calls"), s.repeat_rate,
            _count(lang, s.repeat_contacts, s.repeat_rate), "", None,
            _("{repeats} calls from a number that had already called in the previous days "
              "÷ {calls} calls").format(repeats=n(s.repeat_contacts), calls=n(s.calls))),
        Row("out_of_hours", _("Calls outside opening hours"), s.out_of_hours,
            n(s.out_of_hours), "", None,
            _("calls that arrived while the contact centre was closed")),
    ]
    return out + record_rows(s, lang)


def _service_level_row(s: Standards, t: int, targets: Targets, lang: Lang) -> Row:
    _, n = lang.gettext, lang.number
    share, target = s.service_level.get(t), targets.service_level.get(t)
    return Row(
        f"answered_within_{t}s", _("Answered within {seconds} seconds").format(seconds=n(t)),
        share, pct(lang, share), "" if target is None else _at_least(lang, target),
        None if share is None or target is None else share >= target,
        _("{answered} answered within {seconds} s ÷ {offered} offered").format(
            answered=n(s.answered_within[t]), seconds=n(t), offered=n(s.offered)))


def _at_least(lang: Lang, share: float) -> str:
    return lang.gettext("at least {share}").format(share=lang.percent(share, 0))


def _at_most(lang: Lang, share: float) -> str:
    return lang.gettext("at most {share}").format(share=lang.percent(share, 0))


def record_rows(s: Standards, lang: Lang) -> list[Row]:
    """How sure the figures are: what could not be established, and what was checked."""
    _, n = lang.gettext, lang.number
    return [
        # Nothing hidden: calls whose outcome is unknown leave every rate's denominator.
        Row("unsettled", _("Calls whose outcome we could not establish"), s.unsettled_rate,
            _count(lang, s.unsettled, s.unsettled_rate), "", None,
            _("{unsettled} calls that ended while callcentre could not see the telephone "
              "system ÷ {calls} calls; they are left out of the calls offered above").format(
                unsettled=n(s.unsettled), calls=n(s.calls))),
        Row("checked", _("Calls checked against the telephone system's own record"),
            s.checked_rate, _count(lang, s.checked, s.checked_rate), "", None,
            _("{checked} of {calls} calls held against Asterisk's queue log, the record "
              "auditors use; {corrected} of them were corrected from it").format(
                checked=n(s.checked), calls=n(s.calls), corrected=n(s.corrected))),
    ]


def callback_rows(c: CallbackPeriod, target: float, lang: Lang) -> list[Row]:
    _, n = lang.gettext, lang.number
    ratio = c.kept_ratio
    judged = c.kept + c.late + c.missed
    return [
        Row("callbacks_promised", _("Call-backs promised"), c.promised, n(c.promised), "",
            None, _("call-backs we promised in this period (by an agent, at a resident's "
                    "request while waiting, after an abandoned call, or for a call while we "
                    "were closed)")),
        Row("callbacks_kept", _("Call-backs made by the time we promised"), ratio,
            pct(lang, ratio, NONE_DUE), _at_least(lang, target),
            None if ratio is None else ratio >= target,
            _("{kept} kept ÷ {judged} due in this period and closed as kept, late or missed "
              "({cancelled} cancelled and {still_open} still open are not counted)").format(
                kept=n(c.kept), judged=n(judged), cancelled=n(c.cancelled),
                still_open=n(c.still_open))),
        Row("callbacks_late", _("Call-backs made late"), c.late, n(c.late), "", None,
            _("resident reached, but after the time we promised")),
        Row("callbacks_missed", _("Call-backs missed"), c.missed, n(c.missed), "", None,
            _("resident not reached ({first_in_time} of them had a first attempt in "
              "time)").format(first_in_time=n(c.missed_first_in_time))),
        Row("callbacks_extended", _("Call-back times we moved later"), c.extended,
            n(c.extended), "", None,
            _("call-backs due in this period whose time we moved later, telling the resident")),
    ]


def survey_rows(t: SurveyTally, lang: Lang) -> list[Row]:
    """The residents' own word after the call (the post-call keypad survey, #15)."""
    _ = lang.gettext
    return _survey(t, lang, ("survey_response_rate", "first_contact_resolution", "satisfaction"),
                   (_("Callers who answered our after-call survey"),
                    _("Resolved on the first call, in callers' own words"),
                    _("Satisfaction, 1 (not at all) to 5 (very)")),
                   _("{responded} answered at least one question ÷ {offered} offered the survey "
                     "(it is offered when the agent ends the call; hanging up or pressing "
                     "nothing counts as not answering)"),
                   _("the average of {answers} scores given; callers who gave none are left "
                     "out"))


def callback_survey_rows(t: SurveyTally, lang: Lang) -> list[Row]:
    """The residents' own word after a call-back (the same survey, asked when the agent ends
    a call-back), for the call-backs due in the period."""
    _ = lang.gettext
    return _survey(t, lang, ("callback_survey_response_rate", "callback_resolution",
                             "callback_satisfaction"),
                   (_("Residents we called back who answered our survey"),
                    _("Resolved by the call-back, in residents' own words"),
                    _("Satisfaction after a call-back, 1 (not at all) to 5 (very)")),
                   _("{responded} answered at least one question ÷ {offered} offered the survey "
                     "at the end of a call-back due in this period"),
                   _("the average of {answers} scores given; residents who gave none are left "
                     "out"))


def _survey(t: SurveyTally, lang: Lang, keys: tuple[str, str, str],
            titles: tuple[str, str, str], responded: str, averaged: str) -> list[Row]:
    """The three survey rows (response rate, resolution, satisfaction) under ``keys`` and
    ``titles``, with the formulas ``responded`` and ``averaged`` (translated already)."""
    _, n = lang.gettext, lang.number
    score = t.mean_satisfaction
    return [
        Row(keys[0], titles[0], t.response_rate, pct(lang, t.response_rate, NO_ANSWERS), "",
            None, responded.format(responded=n(t.responded), offered=n(t.offered))),
        Row(keys[1], titles[1], t.first_contact_resolution,
            pct(lang, t.first_contact_resolution, NO_ANSWERS), "", None,
            _("{said_yes} said yes ÷ {answered} who answered \"was your question "
              "resolved?\"").format(said_yes=n(t.resolved_yes),
                                    answered=n(t.resolved_answers))),
        Row(keys[2], titles[2], score,
            _(NO_ANSWERS) if score is None
            else _("{score} of 5").format(score=n(score, "0.00")), "", None,
            averaged.format(answers=n(t.satisfaction_answers))),
    ]


def agent_survey_json(agents: SurveyByAgent) -> list[dict[str, Any]]:
    """Per agent (a manager's view, never published): name, counts and the three figures."""
    return [{"agent": name or None, "offered": t.offered, "responded": t.responded,
             "response_rate": t.response_rate,
             "first_contact_resolution": t.first_contact_resolution,
             "mean_satisfaction": t.mean_satisfaction}
            for name, t in sorted(agents.items())]


def report_rows(r: Report, lang: Lang) -> list[Row]:
    out = rows(r.standards, r.thresholds, r.targets, lang) + survey_rows(r.survey, lang)
    if r.callbacks is not None:
        out += callback_rows(r.callbacks, r.targets.callback_kept, lang)
        out += callback_survey_rows(r.callbacks.survey, lang)
    return out


def period_label(p: Period, lang: Lang) -> str:
    """The period as the language writes it: a day, a week's first and last days, a month."""
    last = p.end_day - timedelta(days=1)
    if p.kind is PeriodKind.DAY and last == p.first_day:
        return lang.date(p.first_day, "full")
    if p.kind is not PeriodKind.MONTH:  # a week, or a range of days (?from=&to=)
        return lang.gettext("{first} to {last}").format(
            first=lang.date(p.first_day, "long"), last=lang.date(last, "long"))
    return lang.date(p.first_day, "LLLL y")


def report_json(r: Report, lang: Lang) -> dict[str, Any]:
    return {
        "period": {"kind": r.period.kind.value, "from": r.period.first_day.isoformat(),
                   "to": r.period.end_day.isoformat(), "label": period_label(r.period, lang)},
        "queue": r.queue,
        "site": r.site,  # with several PBXs: the figures of this site's queues
        "figures": [row_json(x) for x in report_rows(r, lang)],
        "trend": [{"from": p.first_day.isoformat(), "to": p.end_day.isoformat(),
                   "label": period_label(p, lang), "offered": s.offered,
                   "service_level": {str(t): s.service_level.get(t) for t in r.thresholds}}
                  for p, s in r.trend],
        "definitions": {"to": lang.gettext("exclusive: the period ends before this day"),
                        "short_abandon_seconds": r.standards.short_abandon_seconds},
    }


def row_json(row: Row) -> dict[str, Any]:
    return {"key": row.key, "figure": row.figure, "value": row.value, "shown": row.shown,
            "target": row.target or None, "met": row.met, "formula": row.formula}
