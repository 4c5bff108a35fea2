"""Recorded real calls, replayed: the call records agree with Asterisk's own queue_log."""

from __future__ import annotations

from datetime import timedelta

import pytest

from callcentre.ami.protocol import Message
from callcentre.ami.translate import Translator
from callcentre.domain.calls import Outcome
from callcentre.domain.live import link_warnings, silence_warning
from callcentre.phones import normalise
from callcentre.testing import FakeClock
from tests.support import (
    FIXTURES,
    LAB_INBOUND,
    QUEUE_TRACES,
    TRACES,
    expected_from_queue_log,
    fold,
    parse_all,
    queue_log,
    trace_bytes,
    translator,
)


@pytest.mark.parametrize("name", QUEUE_TRACES)
def test_outcome_and_wait_match_queue_log(name: str) -> None:
    calls = fold(parse_all(trace_bytes(name)))
    truth = expected_from_queue_log(queue_log((FIXTURES / f"{name}.queue_log").read_text()))
    assert {c.linkedid for c in calls} == set(truth)
    for call in calls:
        outcome, wait = truth[call.linkedid]
        assert call.outcome == outcome
        assert call.wait_seconds is not None
        assert abs(call.wait_seconds - wait) < 1.0


def test_answered_call_record() -> None:
    (call,) = fold(parse_all(trace_bytes("answered")))
    assert call.caller == "+447700901"
    assert call.caller_name == "Resident 1"
    assert call.dialled == "1000"
    assert call.queue == "council"
    assert call.join_position == 1
    assert call.agent_interface == "PJSIP/agent1"
    assert call.agent_name == "Agent One"
    assert call.keyed_case_ref == "CASE-answered-1"
    assert call.wait_seconds == pytest.approx(4.011731, abs=1e-5)  # join -> AgentConnect stamps
    assert call.talk_seconds == pytest.approx(5.002841, abs=1e-5)  # AgentConnect -> AgentComplete
    assert call.hangup_cause == 16


def test_abandoned_call_record() -> None:
    (call,) = fold(parse_all(trace_bytes("abandoned")))
    assert call.outcome is Outcome.ABANDONED
    assert call.abandon_position == 1 and call.join_position == 1
    assert call.answered_at is None and call.talk_seconds is None


def test_queue_timeout_recorded_from_real_asterisk() -> None:
    """app_queue raises QueueCallerAbandon on a timeout too (record_abandoned()), then sets
    QUEUESTATUS=TIMEOUT: queue_log says EXITWITHTIMEOUT, and so must the record."""
    messages = parse_all(trace_bytes("timeout"))
    names = [m.event for m in messages]
    assert "QueueCallerAbandon" in names  # the event a hand-written timeout left out
    (call,) = fold(messages)
    assert call.outcome is Outcome.TIMEOUT
    assert call.queue_status == "TIMEOUT"
    assert call.wait_seconds == pytest.approx(4.0, abs=0.6)


def test_callback_originate_is_not_an_inbound_call() -> None:
    assert fold(parse_all(trace_bytes("callback"))) == []


def _frame_starts(data: bytes) -> list[int]:
    """Byte offsets where each message (and the banner line) starts."""
    starts = [0, data.index(b"\r\n") + 2]
    pos = starts[-1]
    while (end := data.find(b"\r\n\r\n", pos)) != -1:
        pos = end + 4
        starts.append(pos)
    return starts


@pytest.mark.clockless  # parsing only, the same at any hour
@pytest.mark.parametrize("name", TRACES)
def test_every_split_offset_gives_the_same_messages(name: str) -> None:
    """A read can end at any byte. Splitting at offset k only touches the frame holding k,
    so for every offset we feed that frame and its neighbours in two reads and compare
    with one read; records are a pure fold of the messages, so they agree too (checked
    on the whole stream below)."""
    data = trace_bytes(name)
    starts = _frame_starts(data)
    for i in range(2, len(starts) - 1):
        lo, hi = starts[i - 1], starts[min(i + 2, len(starts) - 1)]
        window = data[lo:hi]
        want = parse_all(window)
        for k in range(starts[i] - lo, starts[i + 1] - lo + 1):
            assert parse_all(window, [window[:k], window[k:]]) == want, (lo, k)


@pytest.mark.parametrize("name", TRACES)
def test_split_whole_stream_gives_the_same_records(name: str) -> None:
    data = trace_bytes(name)
    whole = fold(parse_all(data))
    for offset in [*range(0, 600), *range(600, len(data) + 1, 149), len(data)]:
        assert fold(parse_all(data, [data[:offset], data[offset:]])) == whole, offset


def test_duplicated_and_late_events_change_nothing() -> None:
    messages = parse_all(trace_bytes("answered"))
    once = fold(messages)
    assert fold(messages + messages) == once  # the whole session delivered twice
    hangup_first = [m for m in messages if m.event == "Hangup"] + messages
    (call,) = fold(hangup_first)
    assert call.outcome is Outcome.ANSWERED  # a stray early hangup for an unknown call is ignored


def _warnings(messages: list[Message]) -> list[str]:
    tr = translator()
    for m in messages:
        tr(m)
    events = {(n, "handled"): c for n, c in tr.handled.items()}
    return link_warnings(events, tr.untimed, tr.classes)


THREE_CALLS = ("answered", "abandoned_long", "timeout")


@pytest.mark.parametrize("name", TRACES)
def test_real_sessions_raise_no_warning(name: str) -> None:
    assert _warnings(parse_all(trace_bytes(name))) == []


def test_three_real_calls_raise_no_warning() -> None:
    assert _warnings([m for n in THREE_CALLS for m in parse_all(trace_bytes(n))]) == []


def test_timestampevents_no_is_said_out_loud() -> None:
    """The same real session as Asterisk sends it with timestampevents = no (the default)."""
    plain = [Message([(k, v) for k, v in m.items() if k != "Timestamp"])
             for m in parse_all(trace_bytes("answered"))]
    (warning,) = _warnings(plain)
    assert "timestampevents = no" in warning


def test_an_account_without_the_agent_class_is_said_out_loud() -> None:
    """Three real calls as an account without the 'agent' read class sees them: no
    QueueCaller*/Agent* events (tests/integration/test_asterisk_harness.py measures which)."""
    agent_class = ("QueueCallerJoin", "QueueCallerLeave", "QueueCallerAbandon", "AgentConnect",
                   "AgentComplete", "AgentCalled", "AgentRingNoAnswer", "AgentDump",
                   "QueueMemberStatus", "QueueMemberAdded", "QueueMemberPause",
                   "QueueMemberRemoved")
    messages = [m for name in THREE_CALLS
                for m in parse_all(trace_bytes(name)) if m.event not in agent_class]
    (warning,) = _warnings(messages)
    assert "read class 'agent' was seen" in warning and warning.startswith("3 calls arrived")


def test_an_account_without_the_user_and_dialplan_classes_is_said_out_loud() -> None:
    messages = [m for name in THREE_CALLS for m in parse_all(trace_bytes(name))
                if not (m.get("Privilege") or "").startswith(("user", "dialplan"))]
    (warning,) = _warnings(messages)
    assert "read class 'user', 'dialplan' was seen" in warning
    assert "case references" in warning and "queue results" in warning


def test_actions_the_account_may_not_send_are_named_with_what_fails() -> None:
    (warning,) = link_warnings({}, 0, {}, ("Originate",))
    assert warning.startswith("the AMI account may not send Originate: callbacks cannot be")


def test_calls_with_no_queue_event_for_the_quiet_time_while_open_are_said_out_loud() -> None:
    clock = FakeClock()
    tr = Translator(LAB_INBOUND, lambda raw: normalise(raw, "GB"), clock)
    answered = parse_all(trace_bytes("answered"))
    for m in answered:
        if not (m.get("Privilege") or "").startswith("agent"):  # no 'agent' read class
            tr(m)
    since = tr.unqueued_since
    assert since == clock.now()
    quiet = timedelta(minutes=15)
    assert silence_warning(since, clock.advance(minutes=14), True, quiet) == []
    (warning,) = silence_warning(since, clock.advance(minutes=2), True, quiet)
    assert warning.startswith("inbound calls have arrived for 16 minutes")
    assert silence_warning(since, clock.now(), False, quiet) == []  # closed: not judged
    tr(next(m for m in answered if m.event == "QueueCallerJoin"))
    assert tr.unqueued_since is None  # one queue event is enough
