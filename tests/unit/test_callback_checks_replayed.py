"""Who answered a callback, judged from what the real Asterisk 22 sent: the captures
tests/fixtures/ami/callback_{confirmed,unconfirmed,amd_machine,amd_silent}.ami (made with
``python -m tests.asterisk.capture``; callbacks write no queue_log lines, so the AMI is
the whole truth), replayed through the translator and the dialler on fakes.

What the captures showed, and these tests keep:
* confirmed: UserEvent CallcentreCallbackConfirmed on the resident's leg, then DialEnd
  ANSWER (only once the Gosub returned: that is when they are connected to the agent);
* unconfirmed: two prompts, 15 s of silence, then DialEnd **CONTINUE** (GOSUB_RESULT), and
  the h extension's CallcentreCallbackResult still says DialStatus ANSWER;
* AMD with a recorded greeting (sipp's g711a.pcap): AMDSTATUS MACHINE, LONGGREETING-1500-1500;
* AMD with nothing to hear (sipp sends no RTP): NOTSURE, TOOLONG-4900, then connected.
* the post-call survey (callback_survey, Dial option F): the resident's leg runs it once the
  agent hung up, after the agent leg's CallcentreCallbackResult closed the attempt; its
  UserEvents carry the attempt's ChannelId as Linkedid and CALLBACK_ID.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any, get_args

from callcentre.domain import callback_events as cev
from callcentre.domain.callback_policy import AnswerCheck
from callcentre.domain.callbacks import (
    AttemptOutcome,
    Callback,
    Result,
    Status,
    finish_attempt,
    start_attempt,
)
from callcentre.domain.events import CallerHungUp, SurveyAnswered, SurveyOffered
from callcentre.services.callback_legs import Leg
from tests.support import parse_all, trace_bytes, translator
from tests.unit.test_callback_service import World


async def replay(name: str, **policy: Any) -> Callback:
    events = [e for e in map(translator(), parse_all(trace_bytes(name))) if e is not None]
    origin = next(e for e in events if isinstance(e, cev.AgentLegAnswered))
    assert origin.channel_id is not None
    start = origin.at - timedelta(seconds=1)
    w = World(at=start, **policy)
    cb = await w.promise()
    dialling = await w.service.save(start_attempt(cb, "PJSIP/agent1", origin.channel_id, start))
    w.dialler.legs.add(Leg(cb.id or 0, origin.channel_id, "PJSIP/agent1", start))
    for event in events:
        if isinstance(event, CallerHungUp):
            w.dialler.caller_hung_up(event)
        elif isinstance(event, get_args(cev.CallbackEvent)):  # as app.py subscribes it
            w.dialler.handle(event)  # type: ignore[arg-type]
        elif isinstance(event, SurveyOffered | SurveyAnswered):
            w.service.on_survey(event)
    await w.settle()
    assert w.dialler.legs.active() == []
    return await w.repo.get(dialling.id or 0)


async def test_the_resident_pressed_1_and_was_connected_kept() -> None:
    cb = await replay("callback_confirmed")
    (attempt,) = cb.attempts
    assert (cb.status, cb.result) == (Status.CLOSED, Result.KEPT)
    assert attempt.outcome is AttemptOutcome.REACHED and attempt.confirmed
    assert attempt.answered_at is not None and attempt.ended_at is not None
    # connected (DialEnd ANSWER) 2 s after answering, once they pressed 1; talked 6 s
    assert 5.5 < (attempt.ended_at - attempt.answered_at).total_seconds() < 6.5


async def test_an_answer_without_the_key_is_a_failed_attempt_and_retried() -> None:
    cb = await replay("callback_unconfirmed")
    (attempt,) = cb.attempts
    assert attempt.outcome is AttemptOutcome.UNCONFIRMED and not attempt.confirmed
    assert attempt.note == "answered, but nobody pressed 1 to confirm"
    assert cb.status is Status.PENDING and cb.result is None and cb.counted_attempts == 1
    assert attempt.ended_at is not None and cb.next_attempt_at is not None
    assert cb.next_attempt_at >= attempt.ended_at + timedelta(minutes=30)


async def test_amd_machine_is_a_failed_attempt() -> None:
    cb = await replay("callback_amd_machine", check=AnswerCheck.MACHINE_DETECTION)
    (attempt,) = cb.attempts
    assert attempt.outcome is AttemptOutcome.MACHINE and attempt.amd == "MACHINE"
    assert attempt.note == "answering machine"
    assert cb.status is Status.PENDING and cb.counted_attempts == 1


async def test_amd_notsure_is_connected_and_judged_by_talk_time() -> None:
    cb = await replay("callback_amd_silent", check=AnswerCheck.MACHINE_DETECTION)
    (attempt,) = cb.attempts
    assert attempt.amd == "NOTSURE" and attempt.answered_at is not None
    assert attempt.outcome is AttemptOutcome.NOT_REACHED  # connected 1 s < min_talk 10 s
    short = await replay("callback_amd_silent", check=AnswerCheck.MACHINE_DETECTION,
                         min_talk=timedelta(seconds=0.5))
    assert short.result is Result.KEPT


def test_the_amd_user_event_is_translated() -> None:
    events = [e for e in map(translator(), parse_all(trace_bytes("callback_amd_machine")))
              if isinstance(e, cev.MachineDetection)]
    assert [(e.channel_id, e.status, e.cause) for e in events] == [
        ("callback-capture-amd-1", "MACHINE", "LONGGREETING-1500-1500")]


async def test_the_survey_after_a_callback_is_noted_on_its_attempt() -> None:
    cb = await replay("callback_survey")
    assert cb.id == 1  # the capture's CALLBACK_ID
    (attempt,) = cb.attempts
    assert (cb.status, cb.result) == (Status.CLOSED, Result.KEPT)
    assert attempt.outcome is AttemptOutcome.REACHED and attempt.confirmed
    assert (attempt.survey_offered, attempt.survey_resolved, attempt.survey_satisfaction) == (
        True, True, 4)
    # talk ends with the agent's hang-up (6 s after the agent answered), not the survey's
    assert attempt.answered_at is not None and attempt.ended_at is not None
    assert (attempt.ended_at - attempt.answered_at).total_seconds() < 6


async def test_a_callback_without_the_survey_has_none_on_its_attempt() -> None:
    cb = await replay("callback_confirmed")
    (attempt,) = cb.attempts
    assert not attempt.survey_offered


async def test_a_survey_answer_waits_for_the_dialler_to_store_the_attempts_end() -> None:
    """On the real Asterisk an answer's write once fell between the dialler's read and its
    save of the attempt's end: that save went stale and the end was lost. The answer now
    waits until the end is stored, and both are kept."""
    w = World()
    cb = await w.promise()
    dialling = await w.service.save(start_attempt(cb, "PJSIP/agent1", "cb-1-1", w.clock.now()))
    later = w.clock.now() + timedelta(seconds=30)
    w.service.on_survey(SurveyOffered("cb-1-1", later, dialling.id))
    w.service.on_survey(SurveyAnswered("cb-1-1", later, "satisfaction", "5", dialling.id))
    await asyncio.sleep(0.3)  # the answers are waiting: the attempt has not ended
    still = await w.repo.get(dialling.id or 0)
    assert not still.attempts[0].survey_offered
    await w.service.save(finish_attempt(still, AttemptOutcome.REACHED, later, w.service.policy))
    await w.settle()
    done = await w.repo.get(dialling.id or 0)
    (attempt,) = done.attempts
    assert done.result is Result.KEPT and attempt.outcome is AttemptOutcome.REACHED
    assert (attempt.survey_offered, attempt.survey_satisfaction) == (True, 5)
