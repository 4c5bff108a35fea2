"""The estimated wait (domain/waits.py), against values worked out by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from callcentre.domain.waits import (
    QueueNow,
    RecentHandling,
    WaitLearning,
    WaitTold,
    expected_wait,
    handling_for,
    minutes_to_say,
    naive_wait,
    position_among,
    should_offer,
)

T0 = datetime(2026, 12, 1, 10, tzinfo=UTC)


def test_without_patience_it_is_the_naive_estimate() -> None:
    # 2 agents, 120 s each: one leaves every 60 s; the third in line waits 3 x 60 s
    queue = QueueNow(serving=2, free=0, handling_seconds=120.0)
    assert expected_wait(3, queue) == pytest.approx(180.0)
    assert naive_wait(3, 2, 120.0) == pytest.approx(180.0)


def test_residents_ahead_who_give_up_shorten_the_wait() -> None:
    # n mu = 1/60, theta = 1/300: 60 + 1/(1/60 + 1/300) + 1/(1/60 + 2/300)
    #                           = 60 + 50 + 300/7 = 152.857...
    queue = QueueNow(serving=2, free=0, handling_seconds=120.0, patience_seconds=300.0)
    assert expected_wait(3, queue) == pytest.approx(110 + 300 / 7)
    assert expected_wait(1, queue) == pytest.approx(60.0)  # only an agent freeing up counts


def test_free_agents_answer_the_first_residents_at_once() -> None:
    queue = QueueNow(serving=3, free=1, handling_seconds=90.0)
    assert expected_wait(1, queue) == 0.0
    assert expected_wait(2, queue) == pytest.approx(30.0)  # one stage of 3 agents at 90 s


def test_the_lag_comes_before_any_answer() -> None:
    queue = QueueNow(serving=3, free=1, handling_seconds=90.0, lag_seconds=6.0)
    assert expected_wait(1, queue) == 6.0  # an agent is free: the announcement, the ringing
    assert expected_wait(2, queue) == pytest.approx(36.0)


def test_the_handling_time_that_explains_a_wait_inverts_the_estimate() -> None:
    assert handling_for(180.0, 3, 2, None) == pytest.approx(120.0)  # 3 x 120 / 2 = 180
    # with patience: the stages of test_residents_ahead_who_give_up_shorten_the_wait
    assert handling_for(110 + 300 / 7, 3, 2, 300.0) == pytest.approx(120.0, rel=1e-9)
    for wait, ahead, serving in ((0.0, 1, 1), (60.0, 0, 2), (60.0, 1, 0), (1e9, 1, 1)):
        assert handling_for(wait, ahead, serving, None) is None  # teaches nothing


def told(ahead: int, serving: int = 2, patience: float | None = None) -> WaitTold:
    return WaitTold("council", T0, 0.0, None, ahead, serving, patience)


def test_the_waits_residents_had_teach_the_lag_and_the_handling_time() -> None:
    learnt = WaitLearning(keep=5, least=3)
    assert (learnt.lag("council"), learnt.handling("council", 100.0)) == (0.0, 100.0)
    for had in (5.0, 7.0, 6.0, 40.0):  # answered with an agent free; one phone rang long
        learnt.learn(told(ahead=0), had)
    assert learnt.lag("council") == pytest.approx(6.5)  # the median: one long ring is noise
    for had in (126.5, 246.5, 66.5):  # 2 agents; 2, 4 and 1 ahead: beyond the lag, 60 s each
        learnt.learn(told(ahead=round((had - 6.5) / 60)), had)
    assert learnt.handling("council", 100.0) == pytest.approx(120.0)
    learnt.learn(told(ahead=1), -1.0)  # a clock that went back teaches nothing
    learnt.learn(told(ahead=1), 10 * 3600.0)
    assert learnt.handling("council", 100.0) == pytest.approx(120.0)
    assert learnt.handling("other", 100.0) == 100.0
    assert learnt.learnt("council") == {"lag": pytest.approx(6.5), "handling": pytest.approx(120.0)}
    assert learnt.learnt("other") == {}


def test_nothing_is_said_without_agents_or_a_handling_time() -> None:
    assert expected_wait(1, QueueNow(serving=0, free=0, handling_seconds=60.0)) is None
    assert expected_wait(2, QueueNow(serving=1, free=0, handling_seconds=None)) is None
    assert expected_wait(0, QueueNow(serving=1, free=0, handling_seconds=60.0)) is None
    assert naive_wait(1, 0, 60.0) is None


def test_minutes_are_rounded_up_and_under_one_is_said_as_less_than_a_minute() -> None:
    assert [minutes_to_say(s) for s in (0, 1, 59.9, 60, 60.5, 152.9)] == [0, 1, 1, 1, 2, 3]


def test_a_callback_is_offered_over_the_threshold_only() -> None:
    assert should_offer(301.0, 300)
    assert not should_offer(300.0, 300)
    assert not should_offer(10_000.0, 0)  # 0: never
    assert not should_offer(None, 300)


def test_position_is_first_come_first_served_and_a_newcomer_is_last() -> None:
    queued = [("b", T0 + timedelta(seconds=5)), ("a", T0), ("c", T0 + timedelta(seconds=9))]
    assert position_among(queued, "a") == 1
    assert position_among(queued, "c") == 3
    assert position_among(queued, "new") == 4


def test_recent_handling_needs_enough_calls_then_follows_the_last_ones() -> None:
    recent = RecentHandling(keep=3, least=2)
    recent.add("council", 100.0)
    assert recent.mean("council", 180.0) == 180.0  # one call: the model's
    recent.add("council", 200.0)
    assert recent.mean("council", 180.0) == pytest.approx(150.0)
    recent.add("council", 300.0)
    recent.add("council", 400.0)  # the first drops out
    recent.add("council", float("nan"))  # ignored
    assert recent.mean("council", None) == pytest.approx(300.0)
    assert recent.mean("other", None) is None
