"""Callbacks in the resident's language: agents' languages from their queues (domain/agents.py),
the dialler's choice with its fall-back near the deadline, and the language sent to the PBX."""

from __future__ import annotations

from datetime import timedelta

import pytest

from callcentre.ami.pbx import originate_fields
from callcentre.domain import callback_events as cev
from callcentre.domain.agents import Agent, AgentBoard, queue_language, wanted_language
from callcentre.domain.callback_policy import Source
from callcentre.domain.calls import Call
from callcentre.errors import InvalidInput
from callcentre.ports import OriginateRequest
from callcentre.services.callback_dialler import CallbackDialler, DiallerSettings
from callcentre.testing import utc
from tests.unit.test_callback_service import PHONE, T0, World

LANGS = ("en", "ga")


def test_a_queue_serves_its_suffix_language_else_the_default() -> None:
    assert queue_language("council", LANGS) == "en"
    assert queue_language("council-ga", LANGS) == "ga"
    assert queue_language("council-GA", LANGS) == "ga"
    assert queue_language("council-fr", LANGS) == "en"  # not a council language
    assert queue_language("housing-repairs", LANGS) == "en"


def test_an_agent_speaks_the_languages_of_their_queues() -> None:
    both = Agent("PJSIP/agent2", None, frozenset({"council", "council-ga"}))
    english = Agent("PJSIP/agent1", None, frozenset({"council"}))
    assert both.speaks("ga", LANGS) and both.speaks("en", LANGS)
    assert english.speaks("en", LANGS) and not english.speaks("ga", LANGS)


def test_a_language_the_council_does_not_offer_is_served_in_the_default() -> None:
    assert wanted_language("GA", LANGS) == "ga"
    assert wanted_language("fr", LANGS) == "en"
    assert wanted_language(None, LANGS) == "en"


def world(**policy: object) -> World:
    w = World(languages=LANGS, **policy)
    w.dialler = CallbackDialler(w.service, w.repo, w.dialler.scheduler, w.dialler.board, w.pbx,
                                w.clock, DiallerSettings(languages=LANGS))
    return w


def member(w: World, queue: str, n: int) -> None:
    w.event(cev.MemberChanged(queue, f"PJSIP/agent{n}", f"Agent {n}", False, 1, False))


async def test_a_callback_goes_to_an_agent_who_speaks_its_language() -> None:
    w = world()
    cb = await w.promise(language="ga", due_by=T0 + timedelta(hours=2))
    member(w, "council", 1)
    member(w, "council", 2)
    member(w, "council-ga", 2)
    await w.dialler.tick()
    [req] = w.pbx.originated
    assert (req.callback_id, req.agent, req.language) == (cb.id, "PJSIP/agent2", "ga")


async def test_it_waits_for_a_speaker_then_falls_back_to_anyone_near_the_deadline() -> None:
    w = world()
    cb = await w.promise(language="ga", due_by=T0 + timedelta(hours=2))
    member(w, "council", 1)
    await w.dialler.tick()
    assert w.pbx.originated == []  # nobody free speaks Irish yet
    w.clock.advance(hours=1, minutes=1)  # within the hold-back (60 min) of the deadline
    await w.dialler.tick()
    assert [(r.callback_id, r.agent) for r in w.pbx.originated] == [(cb.id, "PJSIP/agent1")]


async def test_the_default_language_goes_to_anyone_in_the_main_queue() -> None:
    w = world()
    await w.promise()  # language "en"
    member(w, "council", 1)
    await w.dialler.tick()
    assert [(r.agent, r.language) for r in w.pbx.originated] == [("PJSIP/agent1", "en")]


def test_the_language_is_sent_for_the_residents_leg() -> None:
    due = utc(2026, 11, 23, 14)
    req = OriginateRequest("callback-4-1", "PJSIP/agent1", "+447700900123", None, 4, due, 20,
                           "Council <1>", language="ga")
    assert "CALLBACK_LANGUAGE=ga" in originate_fields(req)["Variable"]


async def test_a_callback_promised_on_a_call_takes_that_calls_language() -> None:
    w = world()
    calls = w.service._calls  # the World's in-memory call repository
    await calls.save([Call("17.0", "PJSIP/resident-1", T0 - timedelta(minutes=5),
                           caller=PHONE, language="ga")])
    assert (await w.promise()).language == "ga"  # no language given: the call's
    assert (await w.promise(phone="+447700900124")).language == "en"  # no call: the default
    assert (await w.promise(phone="+447700900125", language="en")).language == "en"


async def test_an_agent_may_only_promise_a_language_the_council_offers() -> None:
    w = World(languages=("ga", "en"))  # Irish first: the default
    assert (await w.promise(language=" EN ")).language == "en"  # spelt as the setting has it
    for wrong in ("fr", "", "en,ga", "en\r\nAction: Originate"):
        with pytest.raises(InvalidInput) as err:
            await w.promise(phone="+447700900124", language=wrong)
        assert err.value.field == "language" and "ga, en" in err.value.message
    assert (await w.promise(phone="+447700900125")).language == "ga"  # no call: the default


async def test_the_pbx_language_of_a_queued_resident_is_kept_as_it_came() -> None:
    w = World(languages=("en", "ga"))
    cb = await w.promise(language="fr", source=Source.QUEUE_KEYPRESS)
    assert cb.language == "fr"  # the dialler serves it in the default (see above)


def test_a_pause_in_one_queue_is_not_a_pause_in_the_other() -> None:
    board = AgentBoard()
    for queue, paused in (("council", False), ("council-ga", False), ("council", True)):
        board.apply(cev.MemberChanged(queue, "PJSIP/agent2", "Agent 2", paused, 1, False))
    (agent,) = board.all()
    assert not agent.paused and agent.available  # still taking Irish calls
    assert agent.speaks("ga", LANGS) and not agent.speaks("en", LANGS)
    board.apply(cev.MemberChanged("council-ga", "PJSIP/agent2", "Agent 2", True, 1, False))
    assert board.all()[0].paused and not board.available()  # paused everywhere
    board.apply(cev.MemberRemoved("council", "PJSIP/agent2"))
    assert board.all()[0].paused  # in council-ga alone, paused there
    board.apply(cev.MemberChanged("council-ga", "PJSIP/agent2", "Agent 2", False, 1, False))
    assert [a.interface for a in board.available()] == ["PJSIP/agent2"]
