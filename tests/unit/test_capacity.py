"""The capacity model from half-hours of history, and the staffing advice drawn from it."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from callcentre.domain.capacity import SLOTS, HalfHour, learn, slot_label, slot_of
from callcentre.domain.erlang import agents_needed
from callcentre.domain.staffing import Standard, advise, next_monday
from callcentre.services.capacity import CapacityService
from callcentre.testing import FakeClock, FixedCapacityHistory, utc

LONDON = ZoneInfo("Europe/London")
FIRST = datetime(2026, 10, 12, tzinfo=LONDON)  # a Monday, six weeks across the October change
STANDARD = Standard(20, 0.8)


def test_slots_are_local_half_hours_of_the_week_from_monday() -> None:
    assert slot_of(datetime(2026, 11, 23, 0, 10, tzinfo=LONDON)) == 0
    assert slot_of(datetime(2026, 11, 24, 9, 30, tzinfo=LONDON)) == 48 + 19
    assert slot_of(datetime(2026, 11, 29, 23, 59, tzinfo=LONDON)) == SLOTS - 1
    assert slot_label(48 + 19) == "09:30"


def _mondays_at_ten(weeks: int, arrivals: int) -> list[HalfHour]:
    """``arrivals`` each Monday 10:00-10:30 local, 180 s talk, a tenth abandoning."""
    out = []
    for w in range(weeks):
        start = (FIRST + timedelta(weeks=w)).replace(hour=10).astimezone(ZoneInfo("UTC"))
        gone = arrivals // 10
        out.append(HalfHour(start, arrivals, arrivals - gone, 180.0 * (arrivals - gone),
                            arrivals - gone, gone, 30.0 * arrivals, callback_seconds=2700.0))
    return out


def test_learn_files_utc_half_hours_under_local_slots_and_takes_the_plain_mean() -> None:
    history = _mondays_at_ten(6, 100)  # BST and GMT weeks both land on Monday 10:00
    last_week = [HalfHour(history[-1].start, agents=12)]
    model = learn("council", history, last_week, FIRST, 6, LONDON)
    ten = slot_of(FIRST.replace(hour=10))
    assert model.arrivals[ten] == pytest.approx(100)
    assert sum(model.arrivals) == pytest.approx(100)
    assert model.rate(ten) == pytest.approx(100 / 1800)
    assert model.handling_seconds == pytest.approx(180.0)
    assert model.patience_seconds == pytest.approx(30.0 * 600 / 60)  # waited / abandoned
    assert model.callback_erlangs(ten) == pytest.approx(1.5)
    assert model.agents_last_week == {ten: 12}
    assert model.end == FIRST + timedelta(weeks=6)


def test_nobody_abandoning_means_no_patience_figure_and_erlang_c() -> None:
    start = FIRST.replace(hour=10).astimezone(ZoneInfo("UTC"))
    model = learn(None, [HalfHour(start, 100, 100, 18000.0, 100, 0, 500.0)], [], FIRST, 1,
                  LONDON)
    assert model.patience_seconds is None
    advice = advise(model, next_monday(FIRST.date()), LONDON, STANDARD)
    assert [s.needed for s in advice.slots] == [14]  # the Erlang C worked example


def test_advice_needs_erlang_a_agents_plus_callback_work_beside_last_weeks() -> None:
    model = learn("council", _mondays_at_ten(6, 100), [], FIRST, 6, LONDON)
    week = next_monday(date(2026, 11, 25))
    advice = advise(model, week, LONDON, STANDARD)
    (slot,) = advice.slots
    assert slot.start == datetime(2026, 11, 30, 10, 0, tzinfo=LONDON)
    inbound = agents_needed(100 / 1800, 1 / 180, 1 / 300, 20, 0.8)
    assert (slot.inbound, slot.callbacks, slot.needed) == (inbound, 2, inbound + 2)  # type: ignore[operator]
    assert slot.had is None and slot.had_outlook is None
    assert advice.busiest == slot
    levels = [o.service_level for o in advice.what_if]
    assert levels == sorted(levels) and len(levels) == 8
    assert [o.agents for o in advice.what_if][4] == inbound
    days = advice.days()
    assert days[0][0] == date(2026, 11, 30) and len(days) == 7
    assert days[0][1] == [slot] and all(not s for _, s in days[1:])


def test_what_the_agents_had_last_week_would_give() -> None:
    history = _mondays_at_ten(6, 100)
    model = learn("council", history, [HalfHour(history[-1].start, agents=9)], FIRST, 6,
                  LONDON)
    (slot,) = advise(model, date(2026, 11, 30), LONDON, STANDARD).slots
    assert slot.had == 9
    assert slot.had_outlook is not None and slot.had_outlook.service_level < 0.8


def test_next_monday_is_the_coming_week() -> None:
    assert next_monday(date(2026, 11, 25)) == date(2026, 11, 30)
    assert next_monday(date(2026, 11, 30)) == date(2026, 12, 7)


async def test_the_service_reads_whole_weeks_before_today_and_keeps_the_advice_a_day() -> None:
    history = FixedCapacityHistory(calls={"council": _mondays_at_ten(8, 100)})
    clock = FakeClock(utc(2026, 11, 25, 12, 0))
    service = CapacityService(history, clock, LONDON, {60: 0.95, 20: 0.8}, weeks=6)
    assert service.standard == STANDARD
    model = await service.model("council")
    assert model.first == datetime(2026, 10, 14, tzinfo=LONDON)
    assert model.calls == 600  # the Mondays 19 Oct .. 23 Nov
    first = await service.advice("council")
    assert await service.advice("council") is first and history.reads == 2
    clock.advance(days=1)
    assert await service.advice("council") is not first
    site = await service.advice(("council",), "")  # a site's queues, with its callbacks
    assert site is not await service.advice("council")
    assert await service.advice(("council",), "") is site and history.reads == 4
