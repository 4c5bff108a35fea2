"""The callback state machine, results and the kept ratio; the [callbacks] policy loader."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from callcentre.domain.callback_policy import Source
from callcentre.domain.callbacks import (
    AttemptOutcome,
    Callback,
    Result,
    Status,
    Told,
    accept,
    cancel,
    expire,
    finish_attempt,
    judge,
    link_lost,
    new_callback,
    record_outcome,
    reschedule,
    resident_answered,
    resident_confirmed,
    snooze,
    start_attempt,
    tally,
)
from callcentre.errors import ConfigError, IllegalTransition, InvalidInput
from callcentre.scheduling.policy import load_callback_policy, read_policy
from callcentre.testing import default_policy, utc

T0 = utc(2026, 11, 23, 10)  # Monday 10:00 GMT
P = default_policy()


def promise(at: Any = T0, **kw: Any) -> Callback:
    due = kw.pop("due_by", P.due_for(Source.AGENT, at))
    return new_callback(Callback(case_ref="HOU-1", phone="+447700900123", reason="Repairs",
                                 source=Source.AGENT, promised_by="Sam", not_before=at,
                                 due_by=due, created_at=at, **kw), P)


def dial(cb: Callback, at: Any, n: int = 1) -> Callback:
    return start_attempt(cb, "PJSIP/agent1", f"cb-{n}", at)


def test_default_policy_from_the_packaged_file() -> None:
    assert P.due_for(Source.AGENT, T0) == utc(2026, 11, 23, 14)
    assert P.due_for(Source.ABANDONED, T0) == utc(2026, 11, 24, 17)
    assert P.max_attempts == 3 and P.retry_spacing == (timedelta(minutes=30), timedelta(minutes=120))
    assert P.min_talk == timedelta(seconds=10) and P.abandon_after == timedelta(seconds=30)
    # calling hours: 09:00-19:00 on weekdays
    assert P.callable_from(utc(2026, 11, 23, 20)) == utc(2026, 11, 24, 9)


def test_policy_errors_name_the_key() -> None:
    doc, _ = read_policy("/nonexistent.toml")
    with pytest.raises(ConfigError, match="promise rule"):
        load_callback_policy({**doc, "callbacks": {"promise": {"agent": "soon"}}}, "t")
    with pytest.raises(ConfigError, match="max_attempts"):
        load_callback_policy({**doc, "callbacks": {"max_attempts": 0}}, "t")
    with pytest.raises(ConfigError, match="unknown source"):
        load_callback_policy({**doc, "callbacks": {"promise": {"fax": "end of working day"}}}, "t")
    assert load_callback_policy({k: v for k, v in doc.items() if k != "callbacks"}, "t").max_attempts == 3


def test_a_new_promise_is_scheduled_in_calling_hours() -> None:
    cb = promise(at=utc(2026, 11, 23, 20), due_by=utc(2026, 11, 24, 17))
    assert cb.status is Status.PENDING and cb.next_attempt_at == utc(2026, 11, 24, 9)
    assert cb.history[0].action == "created" and cb.original_due_by == cb.due_by


@pytest.mark.parametrize(("due", "message"), [
    (T0 - timedelta(minutes=1), "in the past"),
    (utc(2027, 1, 30, 12), "beyond policy"),
])
def test_bad_deadlines(due: Any, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        promise(due_by=due)


def test_reached_in_time_is_kept_and_late_is_late() -> None:
    cb = resident_answered(dial(promise(), T0 + timedelta(minutes=5)), T0 + timedelta(minutes=5, seconds=8))
    outcome = judge(cb, T0 + timedelta(minutes=7), P)
    assert outcome is AttemptOutcome.REACHED
    kept = finish_attempt(cb, outcome, T0 + timedelta(minutes=7), P)
    assert (kept.status, kept.result, kept.first_attempt_in_time) == (Status.CLOSED, Result.KEPT, True)
    late_at = utc(2026, 11, 23, 15)
    cb = resident_answered(dial(promise(), late_at), late_at)
    assert finish_attempt(cb, AttemptOutcome.REACHED, late_at + timedelta(minutes=2), P).result is Result.LATE


def test_voicemail_is_not_reached() -> None:
    cb = resident_answered(dial(promise(), T0), T0)
    assert judge(cb, T0 + timedelta(seconds=5), P) is AttemptOutcome.NOT_REACHED
    assert judge(resident_confirmed(cb), T0 + timedelta(seconds=5), P) is AttemptOutcome.REACHED
    strict = replace(P, require_confirmation=True)
    assert judge(cb, T0 + timedelta(minutes=5), strict) is AttemptOutcome.NOT_REACHED
    assert judge(dial(promise(), T0), T0 + timedelta(minutes=1), P) is AttemptOutcome.NO_ANSWER


def test_retries_then_missed() -> None:
    cb = finish_attempt(dial(promise(), T0), AttemptOutcome.NO_ANSWER, T0 + timedelta(minutes=1), P)
    assert cb.status is Status.PENDING and cb.next_attempt_at == T0 + timedelta(minutes=31)
    cb = finish_attempt(dial(cb, cb.next_attempt_at, 2), AttemptOutcome.BUSY,
                        T0 + timedelta(minutes=32), P)
    assert cb.next_attempt_at == T0 + timedelta(minutes=152)
    cb = finish_attempt(dial(cb, cb.next_attempt_at, 3), AttemptOutcome.FAILED,
                        T0 + timedelta(minutes=153), P)
    assert (cb.status, cb.result, cb.first_attempt_in_time) == (Status.CLOSED, Result.MISSED, True)
    assert [a.outcome for a in cb.attempts] == ["no_answer", "busy", "failed"]


def test_a_retry_after_calling_hours_waits_for_the_morning() -> None:
    at = utc(2026, 11, 23, 18, 45)
    cb = finish_attempt(dial(promise(at=utc(2026, 11, 23, 16)), at), AttemptOutcome.NO_ANSWER, at, P)
    assert cb.next_attempt_at == utc(2026, 11, 24, 9)


def test_not_placed_is_not_an_attempt() -> None:
    cb = finish_attempt(dial(promise(), T0), AttemptOutcome.NOT_PLACED, T0, P)
    assert cb.status is Status.PENDING and cb.counted_attempts == 0 and cb.first_attempt_in_time is None


def test_link_lost_before_and_after_answer() -> None:
    cb = link_lost(dial(promise(), T0), T0 + timedelta(minutes=1), P)
    assert cb.status is Status.PENDING and cb.attempts[-1].outcome is AttemptOutcome.LINK_LOST
    answered = resident_answered(dial(promise(), T0), T0 + timedelta(seconds=3))
    cb = link_lost(answered, T0 + timedelta(minutes=1), P)
    assert cb.status is Status.NEEDS_OUTCOME and cb.next_attempt_at is None
    cb = record_outcome(cb, AttemptOutcome.REACHED, "Agent 1", T0 + timedelta(minutes=2), P, "spoke")
    assert cb.result is Result.KEPT and cb.attempts[-1].manual


def test_agent_records_a_call_made_by_hand() -> None:
    cb = record_outcome(promise(), AttemptOutcome.REACHED, "Agent 2", T0 + timedelta(hours=1), P)
    assert cb.result is Result.KEPT and len(cb.attempts) == 1 and cb.attempts[0].agent == "Agent 2"
    with pytest.raises(IllegalTransition, match="kept"):
        cancel(cb, "oops", "Agent 2", T0)


def test_reschedule_records_who_when_old_new_and_how_told() -> None:
    cb = promise()
    moved = reschedule(cb, utc(2026, 11, 24, 12), "Waiting for the surveyor", Told.SMS, "Sam",
                       T0 + timedelta(minutes=5), P)
    entry = moved.history[-1]
    assert (entry.action, entry.by, entry.told, entry.reason) == ("rescheduled", "Sam", Told.SMS,
                                                                  "Waiting for the surveyor")
    assert entry.old == cb.due_by.isoformat() and entry.new == utc(2026, 11, 24, 12).isoformat()
    assert moved.extensions == 1 and moved.original_due_by == cb.due_by
    with pytest.raises(InvalidInput, match="reason"):
        reschedule(cb, utc(2026, 11, 24, 12), " ", Told.SMS, "Sam", T0, P)
    earlier = reschedule(cb, utc(2026, 11, 23, 12), "sooner", Told.PHONE, "Sam", T0, P)
    assert earlier.extensions == 0


def test_snooze_accept_cancel_expire() -> None:
    cb = snooze(promise(), T0 + timedelta(minutes=20), "Agent 1", T0, P)
    assert cb.next_attempt_at == T0 + timedelta(minutes=20) and cb.due_by == promise().due_by
    cb = accept(cb, "Agent 1", T0 + timedelta(minutes=1))
    assert cb.owner == "Agent 1" and cb.next_attempt_at == T0 + timedelta(minutes=1)
    assert cancel(cb, "resident called in", "system", T0).result is Result.CANCELLED
    assert expire(cb, T0).result is Result.MISSED
    with pytest.raises(IllegalTransition, match="dialling"):
        cancel(dial(cb, T0), "x", "Sam", T0)


def test_tally_and_kept_ratio() -> None:
    kept = finish_attempt(resident_answered(dial(promise(), T0), T0), AttemptOutcome.REACHED, T0, P)
    missed = expire(promise(), T0)
    cancelled = cancel(promise(), "dup", "Sam", T0)
    t = tally([kept, kept, missed, cancelled, promise()])
    assert (t.kept, t.late, t.missed, t.cancelled) == (2, 0, 1, 1)
    assert t.kept_ratio == pytest.approx(2 / 3)
    assert tally([cancelled]).kept_ratio is None


def test_an_agent_who_does_not_answer_costs_the_resident_no_attempt() -> None:
    cb = finish_attempt(dial(promise(), T0), AttemptOutcome.AGENT_NO_ANSWER, T0 + timedelta(seconds=30), P)
    assert cb.status is Status.PENDING and cb.counted_attempts == 0
    assert cb.next_attempt_at == T0 + timedelta(minutes=1, seconds=30)
