"""The call state machine, event by event (pure: no I/O, times passed in)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from callcentre.domain import events as ev
from callcentre.domain.calls import CallTracker, EndSource, Outcome
from callcentre.domain.hours import opening_hours
from callcentre.testing import utc

T0 = utc(2026, 11, 23, 10, 0)  # a Monday, 10:00 in London
LID = "1795379766.0"
DETAILS = ev.CallerDetails("PJSIP/resident-1", "+447700900123", "07700900123", "Ann", "1000", None)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def tracker() -> CallTracker:
    hours = opening_hours(ZoneInfo("Europe/London"), {"monday": ["08:30-17:00"]}, lambda d: False)
    return CallTracker(hours.is_open)


def run(*events: ev.CallEvent) -> CallTracker:
    t = tracker()
    for e in events:
        t.apply(e)
    return t


def finished_call(t: CallTracker, events: list[ev.CallEvent]):  # type: ignore[no-untyped-def]
    result = None
    for e in events:
        result = t.apply(e) or result
    assert result is not None and result.finished
    return result


def test_queue_timeout_is_its_own_outcome() -> None:
    call = finished_call(tracker(), [
        ev.CallArrived(LID, at(0), DETAILS),
        ev.QueueJoined(LID, at(0.5), "council", 3, DETAILS),
        ev.QueueLeft(LID, at(300.5), "council"),
        ev.QueueResultSet(LID, at(300.6), "TIMEOUT"),
        ev.CallerHungUp(LID, at(301), 16),
    ])
    assert call.outcome is Outcome.TIMEOUT
    assert call.wait_seconds == 300.0 and call.join_position == 3


@pytest.mark.parametrize(("status", "outcome"), [
    ("LEAVEEMPTY", Outcome.EXIT_EMPTY), ("LEAVEUNAVAIL", Outcome.LEFT_QUEUE),
    ("WITHDRAW", Outcome.LEFT_QUEUE), (None, Outcome.EXIT_WITH_KEY)])
def test_left_queue_alive_is_named_by_its_status(status: str | None, outcome: Outcome) -> None:
    events: list[ev.CallEvent] = [
        ev.QueueJoined(LID, at(0), "council", 1, DETAILS),  # joined without a Newchannel first
        ev.QueueLeft(LID, at(10), "council"),
        ev.CallerHungUp(LID, at(11), 16)]
    if status:
        events.insert(2, ev.QueueResultSet(LID, at(10), status))
    assert finished_call(tracker(), events).outcome is outcome


def test_a_second_visit_decides_how_the_call_left_and_the_wait_runs_on() -> None:
    call = finished_call(tracker(), [
        ev.QueueJoined(LID, at(0), "council-first", 1, DETAILS),
        ev.CallerAbandoned(LID, at(2), "council-first", 1, 1),
        ev.QueueLeft(LID, at(2), "council-first"),
        ev.QueueResultSet(LID, at(2), "TIMEOUT"),
        ev.QueueJoined(LID, at(2.1), "council", 1, DETAILS),
        ev.CallerAbandoned(LID, at(7), "council", 1, 1),
        ev.QueueLeft(LID, at(7), "council"),
        ev.CallerHungUp(LID, at(7.1), 0),
    ])
    assert call.outcome is Outcome.ABANDONED  # not the first queue's stale TIMEOUT
    assert call.queue == "council-first" and call.wait_seconds == 7


def test_hung_up_before_queue_and_out_of_hours() -> None:
    evening = utc(2026, 11, 23, 18, 0)
    call = finished_call(tracker(), [
        ev.CallArrived(LID, evening, DETAILS),
        ev.CaseRefKeyed(LID, evening + timedelta(seconds=3), "BIN-42"),
        ev.CallerHungUp(LID, evening + timedelta(seconds=5), 16),
    ])
    assert call.outcome is Outcome.HUNG_UP_BEFORE_QUEUE
    assert call.out_of_hours and call.keyed_case_ref == "BIN-42"
    assert call.wait_seconds is None and call.talk_seconds is None


def test_events_after_the_end_never_reopen_a_call() -> None:
    t = tracker()
    finished_call(t, [ev.CallArrived(LID, at(0), DETAILS), ev.CallerHungUp(LID, at(2), 16)])
    assert t.apply(ev.QueueJoined(LID, at(3), "council", 1, DETAILS)) is None
    assert t.apply(ev.CallArrived(LID, at(0), DETAILS)) is None
    assert t.active() == [] and t.stats.late_ignored == 2


def test_duplicate_events_change_nothing() -> None:
    t = run(ev.CallArrived(LID, at(0), DETAILS), ev.QueueJoined(LID, at(1), "council", 1, DETAILS),
            ev.AgentAnswered(LID, at(5), "council", "PJSIP/agent1", "Agent One"))
    assert t.apply(ev.AgentAnswered(LID, at(9), "council", "PJSIP/agent2", "Agent Two")) is None
    assert t.apply(ev.QueueJoined(LID, at(9), "council", 4, DETAILS)) is None
    (call,) = t.active()
    assert call.agent_interface == "PJSIP/agent1" and call.wait_seconds == 4.0


def test_abandon_after_answer_is_ignored() -> None:
    t = run(ev.QueueJoined(LID, at(0), "council", 1, DETAILS),
            ev.AgentAnswered(LID, at(5), "council", "PJSIP/agent1", None))
    assert t.apply(ev.CallerAbandoned(LID, at(6), "council", 1, 1)) is None


def test_unrelated_contacts_are_counted_not_tracked() -> None:
    t = tracker()
    assert t.apply(ev.CallerHungUp("other", at(0), 16)) is None
    assert t.stats.unrelated == 1


def test_close_lost_keeps_last_known_facts() -> None:
    t = run(ev.CallArrived(LID, at(0), DETAILS), ev.QueueJoined(LID, at(1), "council", 1, DETAILS),
            ev.CallArrived("2.0", at(2), DETAILS), ev.QueueJoined("2.0", at(3), "council", 2, DETAILS),
            ev.AgentAnswered("2.0", at(8), "council", "PJSIP/agent1", None))
    closed = {c.linkedid: c for c in t.close_lost([LID, "2.0", "not-tracked"])}
    assert closed[LID].outcome is Outcome.UNKNOWN and closed[LID].ended_at == at(1)
    assert closed["2.0"].outcome is Outcome.ANSWERED and closed["2.0"].ended_at == at(8)
    assert all(c.end_source is EndSource.RECONCILED for c in closed.values())
    assert t.active() == []
