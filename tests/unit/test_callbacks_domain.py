"""The callback state machine, results and the kept ratio; the [callbacks] policy loader."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from callcentre.domain.callback_outcomes import correct_result, judge, tally
from callcentre.domain.callback_policy import AnswerCheck, Source
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
    link_lost,
    machine_detected,
    new_callback,
    record_outcome,
    reschedule,
    resident_answered,
    resident_confirmed,
    snooze,
    start_attempt,
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
    cb = resident_confirmed(resident_answered(dial(promise(), T0 + timedelta(minutes=5)),
                                              T0 + timedelta(minutes=5, seconds=8)))
    outcome = judge(cb, T0 + timedelta(minutes=7), P)
    assert outcome is AttemptOutcome.REACHED
    kept = finish_attempt(cb, outcome, T0 + timedelta(minutes=7), P)
    assert (kept.status, kept.result, kept.first_attempt_in_time) == (Status.CLOSED, Result.KEPT, True)
    late_at = utc(2026, 11, 23, 15)
    cb = resident_answered(dial(promise(), late_at), late_at)
    assert finish_attempt(cb, AttemptOutcome.REACHED, late_at + timedelta(minutes=2), P).result is Result.LATE


def test_only_a_confirmed_and_connected_resident_is_reached_by_default() -> None:
    assert P.check is AnswerCheck.CONFIRM
    cb = resident_answered(dial(promise(), T0), T0)  # connected, but nobody pressed 1
    assert judge(cb, T0 + timedelta(minutes=5), P) is AttemptOutcome.UNCONFIRMED
    assert judge(resident_confirmed(cb), T0 + timedelta(seconds=1), P) is AttemptOutcome.REACHED
    # confirmed, but the agent was never connected (DialEnd not ANSWER): not reached
    assert judge(resident_confirmed(dial(promise(), T0)), T0, P) is AttemptOutcome.NO_ANSWER
    # the dialplan hung up on whoever answered without the key (DialStatus CONTINUE)
    assert judge(dial(promise(), T0), T0, P, hung_up_by_check=True) is AttemptOutcome.UNCONFIRMED
    assert judge(dial(promise(), T0), T0 + timedelta(minutes=1), P) is AttemptOutcome.NO_ANSWER


def test_an_unconfirmed_answer_is_a_failed_attempt_with_its_reason() -> None:
    cb = finish_attempt(dial(promise(), T0), AttemptOutcome.UNCONFIRMED, T0 + timedelta(seconds=16), P)
    assert cb.status is Status.PENDING and cb.counted_attempts == 1
    assert cb.next_attempt_at == T0 + timedelta(seconds=16, minutes=30)
    assert cb.attempts[0].note == "answered, but nobody pressed 1 to confirm"
    assert cb.history[-1].reason == cb.attempts[0].note


def test_machine_detection_and_talk_time_when_confirmation_is_off() -> None:
    amd = replace(P, check=AnswerCheck.MACHINE_DETECTION)
    machine = machine_detected(dial(promise(), T0), "MACHINE")
    assert judge(machine, T0, amd, hung_up_by_check=True) is AttemptOutcome.MACHINE
    failed = finish_attempt(machine, AttemptOutcome.MACHINE, T0, amd)
    assert failed.attempts[0].note == "answering machine" and failed.attempts[0].amd == "MACHINE"
    human = resident_answered(machine_detected(dial(promise(), T0), "NOTSURE"), T0)
    assert judge(human, T0 + timedelta(seconds=5), amd) is AttemptOutcome.NOT_REACHED
    assert judge(human, T0 + timedelta(seconds=10), amd) is AttemptOutcome.REACHED
    talk = replace(P, check=AnswerCheck.NONE)
    assert judge(human, T0 + timedelta(seconds=10), talk) is AttemptOutcome.REACHED


def test_policy_checks_from_the_file() -> None:
    doc, _ = read_policy("/nonexistent.toml")
    def check(**keys: bool) -> AnswerCheck:
        return load_callback_policy({**doc, "callbacks": keys}, "t").check
    assert check() is AnswerCheck.CONFIRM
    assert check(require_confirmation=False) is AnswerCheck.MACHINE_DETECTION
    assert check(require_confirmation=False, answering_machine_detection=False) is AnswerCheck.NONE
    with pytest.raises(ConfigError, match="answering_machine_detection"):
        load_callback_policy({**doc, "callbacks": {"require_confirmation": False,
                                                   "answering_machine_detection": "yes"}}, "t")


def kept_callback() -> Callback:
    cb = resident_confirmed(resident_answered(dial(promise(), T0), T0))
    return finish_attempt(cb, AttemptOutcome.REACHED, T0 + timedelta(minutes=2), P)


def test_an_agent_corrects_a_result_with_who_and_why() -> None:
    kept = kept_callback()
    at = T0 + timedelta(hours=1)
    fixed = correct_result(kept, Result.MISSED, "  it was their voicemail ", "Sam (agent)", at)
    assert fixed.result is Result.MISSED and fixed.status is Status.CLOSED
    entry = fixed.history[-1]
    assert (entry.action, entry.by, entry.at, entry.old, entry.new, entry.reason) == (
        "corrected", "Sam (agent)", at, "kept", "missed", "it was their voicemail")
    assert tally([kept]).kept == 1 and tally([fixed]).kept == 0 and tally([fixed]).missed == 1


@pytest.mark.parametrize(("result", "reason", "error", "match"), [
    (Result.KEPT, "why", InvalidInput, "already kept"),
    (Result.CANCELLED, "why", InvalidInput, "kept, late or missed"),
    (Result.MISSED, "   ", InvalidInput, "reason"),
    (Result.MISSED, "x" * 501, InvalidInput, "at most"),
])
def test_bad_corrections(result: Result, reason: str, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        correct_result(kept_callback(), result, reason, "Sam (agent)", T0)


def test_only_a_judged_result_can_be_corrected() -> None:
    with pytest.raises(IllegalTransition, match="pending"):
        correct_result(promise(), Result.KEPT, "why", "Sam (agent)", T0)
    cancelled = cancel(promise(), "phoned in", "Sam", T0)
    with pytest.raises(IllegalTransition, match="cancelled"):
        correct_result(cancelled, Result.KEPT, "why", "Sam (agent)", T0)


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
