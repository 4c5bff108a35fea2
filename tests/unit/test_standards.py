"""Standards figures: pure arithmetic, periods in council time, reports by whole days."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

import pytest

from callcentre.domain.periods import PeriodKind, period_containing, recent
from callcentre.domain.standards import Figures, Targets, merge, percentile, summarise, wait_bucket
from callcentre.domain.survey import SurveyByAgent, SurveyTally
from callcentre.services.standards import StandardsService
from callcentre.testing import FakeClock, utc

LONDON = ZoneInfo("Europe/London")


@pytest.mark.parametrize(("wait", "bucket"), [(0.0, 0), (0.001, 1), (1.0, 1), (19.999, 20),
                                              (20.0, 20), (20.0001, 21)])
def test_wait_buckets_hold_waits_up_to_and_including_their_second(wait: float, bucket: int) -> None:
    assert wait_bucket(wait) == bucket


def test_summarise_applies_the_published_definitions() -> None:
    f = Figures(outcomes={"answered": 6, "abandoned": 3, "timeout": 1, "hung_up_before_queue": 5},
                answered_waits={3: 2, 20: 1, 21: 1, 60: 1, 90: 1},
                abandoned_waits={2: 1, 5: 1, 40: 1}, answered_wait_sum=197.0, repeats=3,
                out_of_hours=2)
    s = summarise(f, [20, 60], 5)
    assert s.calls == 15
    assert s.short_abandoned == 2  # waits of 2 s and exactly 5 s
    assert s.offered == 6 + 3 + 1 - 2
    assert s.answered_within == {20: 3, 60: 5}
    assert s.service_level == {20: 3 / 8, 60: 5 / 8}
    assert s.abandoned == 1 and s.abandon_rate == 1 / 8
    assert s.mean_answer_seconds == pytest.approx(197 / 6)
    assert s.p90_answer_seconds == 90
    assert s.repeat_rate == 3 / 15


def test_calls_with_an_unknown_outcome_are_counted_and_shown_not_hidden() -> None:
    f = Figures(outcomes={"answered": 7, "abandoned": 1, "unknown": 2})
    s = summarise(f, [20], 5)
    assert s.calls == 10 and s.offered == 8  # not offered: we cannot say what happened
    assert s.unsettled == 2 and s.unsettled_rate == 0.2
    assert summarise(Figures(), [20], 5).unsettled_rate is None


def test_no_calls_gives_no_ratios_rather_than_zero() -> None:
    s = summarise(Figures(), [20], 5)
    assert s.offered == 0 and s.service_level == {20: None}
    assert s.mean_answer_seconds is None and s.p90_answer_seconds is None


def test_percentile_and_merge() -> None:
    waits = {1: 5, 2: 4, 10: 1}
    assert percentile(waits, 0.5) == 1 and percentile(waits, 0.9) == 2
    assert percentile(waits, 1.0) == 10 and percentile({}, 0.9) is None
    merged = merge([Figures(outcomes={"answered": 1}, answered_waits={4: 1}, repeats=1),
                    Figures(outcomes={"answered": 2}, answered_waits={4: 1, 7: 1})])
    assert merged.outcomes == {"answered": 3} and merged.answered_waits == {4: 2, 7: 1}
    assert merged.repeats == 1


def test_periods_in_council_time() -> None:
    week = period_containing(PeriodKind.WEEK, date(2026, 11, 25))
    assert (week.first_day, week.end_day) == (date(2026, 11, 23), date(2026, 11, 30))
    month = period_containing(PeriodKind.MONTH, date(2026, 12, 31))
    assert (month.first_day, month.end_day) == (date(2026, 12, 1), date(2027, 1, 1))
    start, end = period_containing(PeriodKind.DAY, date(2026, 10, 25)).bounds(LONDON)
    assert end.timestamp() - start.timestamp() == 25 * 3600  # the autumn clock change
    months = recent(PeriodKind.MONTH, date(2026, 3, 15), 4)
    assert [p.first_day.month for p in months] == [12, 1, 2, 3]


class DaysRepo:
    """Answers the days it is asked for, and records them."""

    def __init__(self) -> None:
        self.asked: list[tuple[date, date, str | None]] = []

    async def figures(self, first_day: date, end_day: date, queue: str | None) -> Figures:
        self.asked.append((first_day, end_day, queue))
        return Figures({"answered": (end_day - first_day).days}, {10: (end_day - first_day).days})

    async def survey(self, first_day: date, end_day: date, queue: str | None) -> SurveyByAgent:
        return {"Agent 1": SurveyTally(4, 3, 3, 2, 2, 9), "": SurveyTally(1, 0)}

    async def queues(self) -> list[str]:
        return []


async def test_a_report_reads_each_period_of_its_trend_once_as_whole_local_days() -> None:
    repo = DaysRepo()
    service = StandardsService(repo, FakeClock(utc(2026, 11, 23, 3, 0)), LONDON, [20], 5,
                               Targets({20: 0.8}, 0.05, 0.9))
    report = await service.report(PeriodKind.MONTH, date(2026, 11, 5), "a", trend_periods=3)
    assert repo.asked == [(date(2026, 9, 1), date(2026, 10, 1), "a"),
                          (date(2026, 10, 1), date(2026, 11, 1), "a"),
                          (date(2026, 11, 1), date(2026, 12, 1), "a")]
    assert report.standards.answered == 30 and report.trend[1][1].answered == 31
    assert report.survey == SurveyTally(5, 3, 3, 2, 2, 9)  # the period's, every agent
    assert report.survey.response_rate == 0.6 and report.survey.mean_satisfaction == 4.5


def test_callback_rows_state_the_kept_ratio_and_its_formula() -> None:
    from callcentre.domain.callback_figures import CallbackPeriod
    from callcentre.web.i18n import load
    from callcentre.web.standards_view import callback_rows

    rows = {r.key: r for r in callback_rows(
        CallbackPeriod(promised=9, kept=6, late=1, missed=1, cancelled=2, still_open=1,
                       extended=2, missed_first_in_time=1), 0.9, load("en"))}
    kept = rows["callbacks_kept"]
    assert kept.value == 0.75 and kept.shown == "75.0%" and kept.met is False
    assert "6 kept ÷ 8" in kept.formula and "2 cancelled" in kept.formula
    assert rows["callbacks_extended"].value == 2
    assert callback_rows(CallbackPeriod(), 0.9, load("en"))[1].shown == "none due"


async def test_the_survey_after_callbacks_has_rows_of_its_own() -> None:
    from dataclasses import replace

    from callcentre.domain.callback_figures import CallbackPeriod
    from callcentre.web.i18n import load
    from callcentre.web.standards_view import report_rows

    service = StandardsService(DaysRepo(), FakeClock(utc(2026, 11, 23, 3, 0)), LONDON, [20], 5,
                               Targets({20: 0.8}, 0.05, 0.9))
    report = await service.report(PeriodKind.MONTH, date(2026, 11, 5), None, trend_periods=1)
    assert report.callbacks is None  # no callback figures: no callback rows
    assert not any(r.key.startswith("callback") for r in report_rows(report, load("en")))
    period = CallbackPeriod(kept=3, survey=SurveyTally(4, 3, 3, 2, 2, 7))
    rows = {r.key: r for r in report_rows(replace(report, callbacks=period), load("en"))}
    assert rows["satisfaction"].shown == "4.50 of 5"  # the calls' survey stays its own
    assert rows["callback_survey_response_rate"].shown == "75.0%"
    assert "4 offered" in rows["callback_survey_response_rate"].formula
    assert rows["callback_resolution"].value == 2 / 3
    assert rows["callback_satisfaction"].shown == "3.50 of 5"
    empty = {r.key: r for r in report_rows(replace(report, callbacks=CallbackPeriod()),
                                           load("en"))}
    assert empty["callback_satisfaction"].value is None
