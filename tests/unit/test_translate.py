"""AMI message -> domain event: unknown events counted, malformed ones skipped, not raised."""

from __future__ import annotations

from callcentre.ami.protocol import Message
from callcentre.domain import events as ev
from tests.support import translator


def msg(**headers: str) -> Message:
    return Message([(k.replace("_", "-"), v) for k, v in headers.items()])


CALLER = {"Channel": "PJSIP/resident-1", "Uniqueid": "17.0", "Linkedid": "17.0",
          "CallerIDNum": "07700 900123", "CallerIDName": "Ann", "Exten": "1000",
          "Timestamp": "1795379766.500000"}


def test_unknown_events_are_counted_and_ignored() -> None:
    tr = translator()
    assert tr(msg(Event="TestEvent", State="RTP_PORT_ALLOCATED")) is None
    assert tr.ignored["TestEvent"] == 1


def test_malformed_events_are_skipped_and_counted() -> None:
    tr = translator()
    assert tr(msg(Event="QueueCallerJoin", **CALLER)) is None  # no Queue header
    assert tr(msg(Event="QueueCallerJoin", Queue="council", Position="first", **CALLER)) is None
    assert tr.malformed == 2


def test_values_no_call_can_have_are_malformed_or_untimed_not_fatal() -> None:
    """A 30-digit Position and a Timestamp in year 1 once stopped the call log for good."""
    tr = translator()
    huge = msg(Event="QueueCallerJoin", Queue="council", Position="9" * 30, **CALLER)
    assert tr(huge) is None and tr.malformed == 1
    year_one = {**CALLER, "Timestamp": "-62135596800.0"}
    joined = tr(msg(Event="QueueCallerJoin", Queue="council", Position="1", **year_one))
    assert isinstance(joined, ev.QueueJoined) and joined.at.year >= 2026  # the clock's time
    assert tr.untimed == 1


def test_caller_number_is_normalised_and_agent_legs_are_not_calls() -> None:
    tr = translator()
    arrived = tr(msg(Event="Newchannel", Context="from-resident", **CALLER))
    assert isinstance(arrived, ev.CallArrived)
    assert arrived.details.caller == "+447700900123" and arrived.details.caller_raw == "07700 900123"
    agent_leg = {**CALLER, "Uniqueid": "17.1", "Context": "from-resident"}
    assert tr(msg(Event="Newchannel", **agent_leg)) is None
    other_context = {**CALLER, "Context": "somewhere-else"}
    assert tr(msg(Event="Newchannel", **other_context)) is None


def test_case_ref_from_varset_and_none_means_skipped() -> None:
    tr = translator()
    keyed = tr(msg(Event="VarSet", Variable="__CASE_REF", Value="HOU-1", **CALLER))
    assert keyed == ev.CaseRefKeyed("17.0", keyed.at, "HOU-1")  # type: ignore[union-attr]
    assert tr(msg(Event="VarSet", Variable="__CASE_REF", Value="NONE", **CALLER)) is None
    assert tr(msg(Event="VarSet", Variable="__CASE_REF", Value="x;DROP TABLE", **CALLER)) is None


def test_events_without_timestamp_use_the_clock_and_are_counted() -> None:
    tr = translator()
    no_stamp = {k: v for k, v in CALLER.items() if k != "Timestamp"}
    event = tr(msg(Event="Hangup", Cause="16", **no_stamp))
    assert isinstance(event, ev.CallerHungUp) and event.at.tzinfo is not None
    assert tr.untimed == 1
