"""CallbackService and CallbackDialler on fakes, with an injected clock."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from callcentre.domain import callback_events as cev
from callcentre.domain.agents import AgentBoard
from callcentre.domain.callback_policy import Source
from callcentre.domain.callbacks import AttemptOutcome, Result, Status
from callcentre.domain.calls import Call, Outcome
from callcentre.domain.cases import new_case
from callcentre.errors import IllegalTransition, InvalidInput, NoSuchCase
from callcentre.phones import normaliser
from callcentre.ports import CallbackQuery
from callcentre.scheduling.due_loop import HeapScheduler
from callcentre.services.callback_dialler import CallbackDialler
from callcentre.services.callbacks import CallbackService, NewCallback
from callcentre.testing import (
    FakeClock,
    FakePbx,
    InMemoryCallbackRepository,
    InMemoryCallRepository,
    InMemoryCaseRepository,
    default_policy,
    utc,
)

T0 = utc(2026, 11, 23, 10)  # Monday 10:00 GMT: open, within calling hours
PHONE = "+447700900123"


class World:
    def __init__(self, at: Any = T0, languages: tuple[str, ...] = ("en",), **policy: Any) -> None:
        self.clock = FakeClock(at)
        self.repo = InMemoryCallbackRepository()
        self.cases = InMemoryCaseRepository()
        self.pbx = FakePbx()
        self.service = CallbackService(self.repo, self.cases, InMemoryCallRepository(),
                                       default_policy(**policy), self.clock, normaliser("GB"),
                                       languages)
        self.dialler = CallbackDialler(self.service, self.repo, HeapScheduler(), AgentBoard(), self.pbx,
                                       self.clock)

    def agent(self, n: int, paused: bool = False) -> None:
        self.dialler.handle(cev.MemberChanged("council", f"PJSIP/agent{n}", f"Agent {n}",
                                              paused, 1, False))

    async def promise(self, **kw: Any) -> Any:
        ref = kw.get("case_ref", "HOU-1")
        if not (await self.cases.find(None, None, 500, None))[0]:
            await self.cases.add(new_case(ref, "Repairs", None, T0))
        return await self.service.create(NewCallback(
            kw.pop("phone", PHONE), kw.pop("reason", "Boiler"), "Sam",
            kw.pop("case_ref", "HOU-1"), **kw))

    def event(self, e: Any) -> None:
        self.dialler.handle(e)

    async def settle(self) -> None:
        await self.service.drain()


async def test_validation_says_what_is_wrong() -> None:
    w = World()
    with pytest.raises(NoSuchCase):
        await w.service.create(NewCallback(PHONE, "x", "Sam", "NOPE-1"))
    with pytest.raises(InvalidInput, match="not a phone number"):
        await w.promise(phone="12")
    with pytest.raises(InvalidInput, match="in the past"):
        await w.promise(due_by=T0 - timedelta(hours=1))
    with pytest.raises(InvalidInput, match="beyond policy"):
        await w.promise(due_by=T0 + timedelta(days=60))
    cb = await w.promise()
    assert cb.due_by == utc(2026, 11, 23, 14) and cb.phone == PHONE
    await w.service.cancel(cb.id, "resident asked", "Sam")
    with pytest.raises(IllegalTransition, match="cancelled"):
        await w.service.cancel(cb.id, "again", "Sam")


async def test_earliest_deadline_first_to_the_one_free_agent() -> None:
    w = World()
    late = await w.promise(due_by=T0 + timedelta(hours=3))
    early = await w.promise(phone="+447700900124", due_by=T0 + timedelta(hours=1))
    w.agent(1)
    await w.dialler.tick()
    assert [r.callback_id for r in w.pbx.originated] == [early.id]
    assert (await w.repo.get(early.id)).status is Status.DIALLING
    assert late.id in w.dialler.ready  # prompted, waiting for an agent


async def test_owner_hold_back() -> None:
    w = World()
    cb = await w.promise(owner="Agent 2", due_by=T0 + timedelta(hours=2))
    w.agent(1)
    await w.dialler.tick()
    assert w.pbx.originated == []  # waits for Agent 2
    w.clock.advance(hours=1, minutes=1)  # within the hold-back (60 min) of the deadline
    await w.dialler.tick()
    assert [(r.callback_id, r.agent) for r in w.pbx.originated] == [(cb.id, "PJSIP/agent1")]


def kept_events(channel: str, at: Any, talk: float, confirmed: bool = True) -> list[Any]:
    """As Asterisk 22 sends them (tests/fixtures/ami/callback_confirmed.ami): the resident's
    key 1, then DialEnd ANSWER once they are connected to the agent, then the Hangup."""
    answered = at + timedelta(seconds=3)
    keyed = [cev.ResidentConfirmed(channel, answered)] if confirmed else []
    return [cev.AgentLegAnswered("fake-1", channel, at + timedelta(seconds=1)), *keyed,
            cev.ResidentDialEnded(channel, answered, "ANSWER"),
            cev.CallbackLegEnded(channel, answered + timedelta(seconds=talk))]


async def test_agent_first_callback_reaches_the_resident() -> None:
    w = World()
    cb = await w.promise()
    w.agent(1)
    await w.dialler.tick()
    req = w.pbx.originated[0]
    assert (req.agent, req.phone, req.case_ref) == ("PJSIP/agent1", PHONE, "HOU-1")
    for e in kept_events(req.channel_id, T0, talk=30):
        w.event(e)
    await w.settle()
    done = await w.repo.get(cb.id)
    assert (done.status, done.result) == (Status.CLOSED, Result.KEPT)
    assert done.attempts[0].outcome is AttemptOutcome.REACHED
    assert w.dialler.legs.active() == []


async def test_voicemail_is_not_kept_and_is_retried() -> None:
    w = World()
    cb = await w.promise()
    w.agent(1)
    await w.dialler.tick()
    channel = w.pbx.originated[0].channel_id
    # the dialplan hangs up on an answer without the key: DialEnd CONTINUE, and the h
    # extension still says ANSWER (tests/fixtures/ami/callback_unconfirmed.ami)
    for e in [cev.AgentLegAnswered("fake-1", channel, T0),
              cev.ResidentDialEnded(channel, T0 + timedelta(seconds=18), "CONTINUE"),
              cev.CallbackLegResult(channel, T0 + timedelta(seconds=18), "ANSWER", 20.0),
              cev.CallbackLegEnded(channel, T0 + timedelta(seconds=18))]:
        w.event(e)
    await w.settle()
    got = await w.repo.get(cb.id)
    assert got.attempts[0].outcome is AttemptOutcome.UNCONFIRMED and got.status is Status.PENDING
    assert got.attempts[0].note == "answered, but nobody pressed 1 to confirm"
    assert w.pbx.originated[0].check == "confirm"


async def test_connected_without_the_key_is_not_kept() -> None:
    """A dialplan that connected without asking (CALLBACK_CHECK ignored): not kept."""
    w = World()
    cb = await w.promise()
    w.agent(1)
    await w.dialler.tick()
    for e in kept_events(w.pbx.originated[0].channel_id, T0, talk=60, confirmed=False):
        w.event(e)
    await w.settle()
    assert (await w.repo.get(cb.id)).attempts[0].outcome is AttemptOutcome.UNCONFIRMED


async def test_no_answer_retried_then_missed() -> None:
    w = World(max_attempts=2, retry_spacing=(timedelta(minutes=5),))
    cb = await w.promise()
    w.agent(1)
    for n in range(2):
        await w.dialler.tick()
        channel = w.pbx.originated[n].channel_id
        w.event(cev.AgentLegAnswered(None, channel, w.clock.now()))
        w.event(cev.ResidentDialEnded(channel, w.clock.now(), "NOANSWER"))
        w.event(cev.CallbackLegEnded(channel, w.clock.now() + timedelta(seconds=30)))
        await w.settle()
        w.clock.advance(minutes=6)
    got = await w.repo.get(cb.id)
    assert (got.status, got.result) == (Status.CLOSED, Result.MISSED)
    assert [a.outcome for a in got.attempts] == ["no_answer", "no_answer"]


async def test_agent_does_not_answer() -> None:
    w = World()
    cb = await w.promise()
    w.agent(1)
    await w.dialler.tick()
    w.event(cev.AgentLegFailed("fake-1", None, T0 + timedelta(seconds=20), 3))
    await w.settle()
    got = await w.repo.get(cb.id)
    assert got.attempts[0].outcome is AttemptOutcome.AGENT_NO_ANSWER
    assert got.status is Status.PENDING and got.counted_attempts == 0
    w.agent(2)
    w.clock.advance(minutes=2)
    await w.dialler.tick()
    assert w.pbx.originated[-1].agent == "PJSIP/agent2"  # agent1 rests a while


async def test_pbx_down_is_not_an_attempt() -> None:
    w = World()
    cb = await w.promise()
    w.agent(1)
    w.pbx.down = True
    await w.dialler.tick()
    got = await w.repo.get(cb.id)
    assert got.status is Status.PENDING and got.attempts[0].outcome is AttemptOutcome.NOT_PLACED


async def test_refused_calls_back_off_and_say_so_once(caplog: pytest.LogCaptureFixture) -> None:
    """A PBX whose trunk is down was asked about five times a second per callback. Now the
    waits double from 10 s up to 10 min (jittered in [0.5, 1)), each refusal is counted,
    the dialler reports the callback as not placed, and it warns once, not per retry."""
    w = World()
    cb = await w.promise()
    w.agent(1)
    w.pbx.refuse = True
    waits = []
    for _ in range(12):
        await w.dialler.tick()
        got = await w.repo.get(cb.id)
        assert got.status is Status.PENDING and got.next_attempt_at is not None
        waits.append((got.next_attempt_at - w.clock.now()).total_seconds())
        await w.dialler.tick()  # not due yet: nothing is asked
        assert len(got.attempts) == len((await w.repo.get(cb.id)).attempts)
        w.clock.set(got.next_attempt_at)
    for n, wait in enumerate(waits, start=1):
        full = min(600, 10 * 2 ** (n - 1))
        assert full * 0.5 <= wait < full, (n, wait)
    assert waits[-1] >= 300  # capped at 10 min (times the jitter)
    got = await w.repo.get(cb.id)
    assert got.status is Status.PENDING and got.counted_attempts == 0  # never rang anyone
    assert [a.outcome for a in got.attempts] == [AttemptOutcome.NOT_PLACED] * 12
    assert w.dialler.not_placed() == (1, 12, "fake PBX refused")
    warned = [r for r in caplog.records if r.levelname == "WARNING" and "not place" in r.message]
    assert len(warned) == 1
    w.pbx.refuse = False  # the trunk is back
    await w.dialler.tick()
    assert len(w.pbx.originated) == 1
    assert w.dialler.not_placed() == (0, 12, None)


async def test_refused_calls_count_as_attempts_when_the_policy_says_so() -> None:
    w = World(refused_counts=True, max_attempts=3)
    cb = await w.promise()
    w.agent(1)
    w.pbx.down = True
    for _ in range(3):
        await w.dialler.tick()
        got = await w.repo.get(cb.id)
        if got.next_attempt_at is not None:
            w.clock.set(got.next_attempt_at)
    got = await w.repo.get(cb.id)
    assert got.status is Status.CLOSED and got.result is Result.MISSED
    assert len(got.attempts) == 3


async def test_restart_never_dials_twice_and_resolves_what_was_left() -> None:
    w = World()
    live = await w.promise(phone="+447700900121")
    finished = await w.promise(phone="+447700900122")
    lost = await w.promise(phone="+447700900125")
    for n in (1, 2, 3):
        w.agent(n)
    await w.dialler.tick()
    channels = {r.callback_id: r.channel_id for r in w.pbx.originated}
    # "kill -9": a new dialler over the same database and PBX
    w2 = CallbackDialler(w.service, w.repo, HeapScheduler(), AgentBoard(), w.pbx, w.clock)
    w.pbx.live = {channels[live.id]}
    w.pbx.results = {channels[finished.id]: ("BUSY", 0.0)}
    w.clock.advance(minutes=1)
    assert await w2.resync() == 2
    assert (await w.repo.get(live.id)).status is Status.DIALLING
    assert (await w.repo.get(finished.id)).attempts[0].outcome is AttemptOutcome.BUSY
    got = await w.repo.get(lost.id)
    assert got.attempts[0].outcome is AttemptOutcome.LINK_LOST and got.status is Status.PENDING
    await w2.rebuild()
    await w2.tick()
    assert len(w.pbx.originated) == 3  # nothing dialled again: no agents known to w2 yet
    assert w2.legs.get(channels[live.id]) is not None


async def test_answered_while_we_were_away_needs_an_agent() -> None:
    w = World()
    cb = await w.promise()
    w.agent(1)
    await w.dialler.tick()
    w.pbx.results = {w.pbx.originated[0].channel_id: ("ANSWER", 40.0)}  # maybe voicemail
    w.clock.advance(minutes=1)
    await CallbackDialler(w.service, w.repo, HeapScheduler(), AgentBoard(), w.pbx, w.clock).resync()
    assert (await w.repo.get(cb.id)).status is Status.NEEDS_OUTCOME


async def test_followed_after_restart_answered_while_away_needs_an_agent() -> None:
    """Killed after the resident answered, call still up at the restart: the new dialler
    follows it but never saw the resident's DialEnd, so the talk time is unknown. An agent
    is asked (needs_outcome); it is not judged failed and dialled again."""
    w = World()
    cb = await w.promise()
    w.agent(1)
    await w.dialler.tick()
    channel = w.pbx.originated[0].channel_id
    w.event(cev.AgentLegAnswered("fake-1", channel, T0))
    w.event(cev.ResidentDialEnded(channel, T0 + timedelta(seconds=3), "ANSWER"))
    # "kill -9" now; the new dialler finds the call still up and follows it
    w2 = CallbackDialler(w.service, w.repo, HeapScheduler(), AgentBoard(), w.pbx, w.clock)
    w.pbx.live = {channel}
    w.clock.advance(seconds=5)
    await w2.resync()
    assert w2.legs.get(channel) is not None
    end = T0 + timedelta(seconds=20)
    w2.handle(cev.CallbackLegResult(channel, end, "ANSWER", 19.0))
    w2.handle(cev.CallbackLegEnded(channel, end))
    await w.settle()
    got = await w.repo.get(cb.id)
    assert got.status is Status.NEEDS_OUTCOME, got
    assert got.current is not None and got.current.answered_at is not None
    w2.handle(cev.MemberChanged("council", "PJSIP/agent2", "Agent 2", False, 1, False))
    w.clock.advance(minutes=10)
    await w2.rebuild()
    await w2.tick()
    assert len(w.pbx.originated) == 1  # never dialled twice


async def test_link_lost_after_answer_needs_an_agent() -> None:
    w = World()
    cb = await w.promise()
    w.agent(1)
    await w.dialler.tick()
    channel = w.pbx.originated[0].channel_id
    w.event(cev.ResidentDialEnded(channel, T0, "ANSWER"))
    w.clock.advance(minutes=1)
    await w.dialler.resync()
    got = await w.repo.get(cb.id)
    assert got.status is Status.NEEDS_OUTCOME
    done = await w.service.record_outcome(cb.id, AttemptOutcome.REACHED, "Agent 1", "spoke")
    assert done.result is Result.KEPT


def a_call(**kw: Any) -> Call:
    base = Call(linkedid="1.1", channel="PJSIP/resident-1", arrived_at=T0, caller=PHONE,
                queue="council", queued_at=T0, ended_at=T0 + timedelta(seconds=45))
    return replace(base, **kw)


async def test_abandoned_and_out_of_hours_calls_become_callbacks_once() -> None:
    w = World()
    short = a_call(outcome=Outcome.ABANDONED, left_queue_at=T0 + timedelta(seconds=10), abandoned=True)
    assert await w.service.handle_finished(short) is None
    long = a_call(linkedid="1.2", outcome=Outcome.ABANDONED, abandoned=True,
                  left_queue_at=T0 + timedelta(seconds=40))
    cb = await w.service.handle_finished(long)
    assert cb is not None and cb.source is Source.ABANDONED and cb.promised_by == "Customer Services"
    assert cb.due_by == utc(2026, 11, 24, 17)
    assert await w.service.handle_finished(replace(long, linkedid="1.3")) is None  # one open
    night = a_call(linkedid="2.1", caller="+447700900999", out_of_hours=True,
                   outcome=Outcome.HUNG_UP_BEFORE_QUEUE, queued_at=None)
    assert (await w.service.handle_finished(night)).source is Source.OUT_OF_HOURS
    assert await w.service.handle_finished(replace(long, linkedid="3.1", caller=None)) is None


async def test_resident_phoning_in_cancels_the_pending_callback() -> None:
    w = World()
    cb = await w.promise()
    w.clock.advance(minutes=10)
    answered = a_call(linkedid="9.9", arrived_at=w.clock.now(), answered_at=w.clock.now(),
                      outcome=Outcome.ANSWERED)
    await w.service.handle_finished(answered)
    got = await w.repo.get(cb.id)
    assert got.result is Result.CANCELLED and "phoned in" in (got.history[-1].reason or "")


async def test_queue_keypress_promises_and_tells_the_dialplan_when() -> None:
    w = World()
    w.event(cev.CallbackRequested("5.5", "PJSIP/resident-0001", T0, "07700900123", "NONE", None))
    await w.settle()
    (cb,) = (await w.repo.find(CallbackQuery())).items
    assert cb.source is Source.QUEUE_KEYPRESS and cb.phone == PHONE and cb.case_ref is None
    assert w.pbx.variables == [("PJSIP/resident-0001", "CALLBACK_ID", str(cb.id)),
                               ("PJSIP/resident-0001", "CALLBACK_PROMISED", str(int(cb.due_by.timestamp())))]
    w.event(cev.PromiseTold(T0, cb.id))
    await w.settle()
    assert (await w.repo.get(cb.id)).history[-1].told == "phone"
    w.event(cev.CallbackRequested("6.6", "PJSIP/resident-0002", T0, "anonymous", None, None))
    await w.settle()
    assert w.pbx.variables[-1] == ("PJSIP/resident-0002", "CALLBACK_PROMISED", "0")


async def test_the_agent_legs_hangup_is_the_one_callers_hangup_row() -> None:
    """app.py subscribes the dialler to CallerHungUp: its own agent leg's hangup ends the
    attempt; anyone else's first leg hanging up changes nothing."""
    from callcentre.domain.events import CallerHungUp

    w = World()
    cb = await w.promise()
    w.agent(1)
    await w.dialler.tick()
    channel = w.pbx.originated[0].channel_id
    w.dialler.caller_hung_up(CallerHungUp("17.0", T0, 16))  # a resident's call, not ours
    *legs, _ = kept_events(channel, T0, talk=30)
    for e in legs:
        w.event(e)
    w.dialler.caller_hung_up(CallerHungUp(channel, T0 + timedelta(seconds=33), 16))
    await w.settle()
    assert (await w.repo.get(cb.id)).result is Result.KEPT


async def test_after_a_reconnect_the_dialler_uses_the_shared_resyncs_answers() -> None:
    from callcentre.domain.resync import Resynced

    w = World()
    live = await w.promise(phone="+447700900121")
    w.agent(1)
    await w.dialler.tick()
    channel = w.pbx.originated[0].channel_id
    w.pbx.down = True  # asking the PBX again would fail: the answers come with the event
    w2 = CallbackDialler(w.service, w.repo, HeapScheduler(), AgentBoard(), w.pbx, w.clock)
    member = cev.MemberChanged("council", "PJSIP/agent2", "Agent 2", False, 1, False)
    w2.resynced(Resynced(T0, 1, frozenset({channel}), frozenset({channel}), (), (member,)))
    await w.settle()
    assert [a.interface for a in w2.board.available()] == ["PJSIP/agent2"]
    assert w2.legs.get(channel) is not None
    assert (await w.repo.get(live.id)).status is Status.DIALLING
