"""Deadlines that can be kept: sizing a new callback's deadline to the capacity expected."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from callcentre.domain.callback_policy import Source
from callcentre.domain.capacity import SLOTS, SLOTS_PER_DAY, CapacityModel
from callcentre.domain.hours import opening_hours
from callcentre.domain.promises import (
    Capacity,
    capacity_curve,
    keepable_due,
    spare_agents,
    work_seconds,
)
from callcentre.domain.staffing import Standard
from callcentre.errors import ConfigError
from callcentre.scheduling.policy import load_callback_policy
from callcentre.testing import default_policy

LONDON = ZoneInfo("Europe/London")
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=LONDON)  # a Monday, GMT
CALLING = opening_hours(LONDON, {d: ["09:00-17:00"] for d in (
    "monday", "tuesday", "wednesday", "thursday", "friday")}, lambda day: False)
FLOOR, CEILING = NOW + timedelta(hours=1), datetime(2026, 11, 24, 17, tzinfo=LONDON)


def model(arrivals: float = 0.0, agents: int = 0, handling: float | None = 180.0) -> CapacityModel:
    """Every working half-hour (09:00-17:00, Monday to Friday) alike."""
    slots = [d * SLOTS_PER_DAY + h for d in range(5) for h in range(18, 34)]
    per_slot = [0.0] * SLOTS
    for s in slots:
        per_slot[s] = arrivals
    return CapacityModel(None, 6, NOW, NOW, tuple(per_slot), (0.0,) * SLOTS, handling, None,
                         0, 0, {s: agents for s in slots} if agents else {})


def flat(spare: float, work: float = 600.0, confidence: float = 0.5) -> Capacity:
    slots = [0.0] * SLOTS
    for s in (d * SLOTS_PER_DAY + h for d in range(5) for h in range(18, 34)):
        slots[s] = spare
    return Capacity(tuple(slots), work, confidence)


def test_no_history_means_the_fixed_rule() -> None:
    assert spare_agents(model(100, 0), Standard(20, 0.8)) is None  # nobody recorded
    assert spare_agents(model(100, 20, handling=None), Standard(20, 0.8)) is None


def test_spare_agents_are_those_beyond_what_the_queue_needs_at_the_standard() -> None:
    # Call Centre Helper's example: 100 calls in 30 min, 180 s, 80 % in 20 s needs 14 agents
    spare = spare_agents(model(100, 20), Standard(20, 0.8))
    assert spare is not None and spare[18] == 6.0 and spare[0] == 0.0  # 09:00; night
    assert spare_agents(model(100, 10), Standard(20, 0.8))[18] == 0.0  # type: ignore[index]
    assert work_seconds(model(100, 20)) == 240.0


def test_capacity_counts_only_calling_hours() -> None:
    times, totals = capacity_curve(flat(2), CALLING, datetime(2026, 11, 23, 16, 50,
                                                               tzinfo=LONDON), CEILING)
    by_five = dict(zip(times, totals, strict=True))
    assert by_five[datetime(2026, 11, 23, 16, 55, tzinfo=LONDON)] == 600.0  # 2 agents, 5 min
    assert by_five[datetime(2026, 11, 24, 9, 0, tzinfo=LONDON)] == 1200.0  # nothing overnight
    assert by_five[datetime(2026, 11, 24, 9, 5, tzinfo=LONDON)] == 1800.0


def test_with_room_the_floor_is_promised() -> None:
    assert keepable_due(flat(2), CALLING, NOW, [], FLOOR, CEILING) == FLOOR


def test_the_backlog_pushes_the_deadline_back_and_the_ceiling_bounds_it() -> None:
    # 1 spare agent: 6 callbacks of 10 min per hour; 20 due by 10:30 are served first
    backlog = [NOW + timedelta(minutes=30)] * 20
    due = keepable_due(flat(1), CALLING, NOW, backlog, FLOOR, CEILING)
    assert due == datetime(2026, 11, 23, 13, 30, tzinfo=LONDON)  # 21 x 600 s = 3.5 h
    # due later than the floor, the same backlog leaves room for a newcomer first
    later = [NOW + timedelta(hours=6)] * 20
    assert keepable_due(flat(1), CALLING, NOW, later, FLOOR, CEILING) == FLOOR
    assert keepable_due(flat(1), CALLING, NOW, backlog * 10, FLOOR, CEILING) == CEILING
    assert keepable_due(flat(0), CALLING, NOW, [], FLOOR, CEILING) == CEILING


def test_a_new_promise_never_breaks_one_that_could_be_kept() -> None:
    # 18 due at 13:00 fill 10:00-13:00 exactly: the new one goes after them
    backlog = [datetime(2026, 11, 23, 13, tzinfo=LONDON)] * 18
    due = keepable_due(flat(1), CALLING, NOW, backlog, FLOOR, CEILING)
    assert due == datetime(2026, 11, 23, 13, 10, tzinfo=LONDON)


def test_more_confidence_never_promises_sooner() -> None:
    backlog = [NOW + timedelta(minutes=30)] * 10
    dues = [keepable_due(flat(1, confidence=c), CALLING, NOW, backlog, FLOOR, CEILING)
            for c in (0.5, 0.8, 0.9, 0.99)]
    assert dues == sorted(dues) and dues[0] < dues[-1]


def test_the_ceiling_wins_over_a_later_floor() -> None:
    assert keepable_due(flat(2), CALLING, NOW, [], CEILING, FLOOR) == FLOOR


def test_deadlines_fall_on_five_minutes_in_council_time() -> None:
    now = datetime(2026, 11, 23, 10, 3, 17, tzinfo=LONDON)
    due = keepable_due(flat(1), CALLING, now, [now] * 3, now + timedelta(minutes=1), CEILING)
    assert due.astimezone(LONDON).minute % 5 == 0 and due.second == 0
    assert date(2026, 11, 23) == due.astimezone(LONDON).date()


def test_the_policy_gives_each_source_a_floor_and_a_ceiling() -> None:
    policy = default_policy()
    at = NOW  # Monday 10:00: open 08:30-17:00
    assert policy.confidence == 0.9
    floor, ceiling = policy.bounds_for(Source.AGENT, at)
    assert floor == NOW + timedelta(hours=1)
    assert ceiling == datetime(2026, 11, 24, 17, tzinfo=LONDON)  # end of next working day
    assert floor <= policy.due_for(Source.AGENT, at) <= ceiling
    fixed = policy.due_for(Source.ABANDONED, at)
    no_bounds = replace(policy, floor={}, ceiling={})
    assert no_bounds.bounds_for(Source.ABANDONED, at) == (fixed, fixed)
    with pytest.raises(ConfigError, match=r"\[callbacks.ceiling\] unknown source"):
        load_callback_policy({"callbacks": {"ceiling": {"email": "end of working day"}}}, "t")
    with pytest.raises(ConfigError, match="promise_confidence"):
        load_callback_policy({"callbacks": {"promise_confidence": 1.5}}, "t")


def test_slack_leaves_room_for_a_second_attempt_before_the_deadline() -> None:
    backlog = [NOW + timedelta(minutes=30)] * 5  # 6 x 600 s: one agent until 11:00
    assert keepable_due(flat(1), CALLING, NOW, backlog, FLOOR, CEILING) == FLOOR
    slack = replace(flat(1), slack=timedelta(minutes=30))
    assert keepable_due(slack, CALLING, NOW, backlog, FLOOR, CEILING) == FLOOR + timedelta(
        minutes=30)
