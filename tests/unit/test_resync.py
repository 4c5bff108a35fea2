"""One resync per (re)connect: asked once, published to every consumer through the bus."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from callcentre.ami.client import ActionResult
from callcentre.ami.errors import AmiActionFailed, AmiActionTimeout
from callcentre.ami.protocol import Message
from callcentre.ami.resync import AmiEvents, Resync, adoptable
from callcentre.domain import callback_events as cev
from callcentre.domain.calls import CallTracker, Outcome
from callcentre.domain.events import CallEvent
from callcentre.domain.hours import always_open
from callcentre.domain.resync import Resynced, ResyncStarted
from callcentre.services.bus import EventBus
from callcentre.testing import FakeClock
from tests.support import (
    FIXTURES,
    LAB_INBOUND,
    expected_from_queue_log,
    parse_all,
    queue_log,
    trace_bytes,
    translator,
)

AT = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def msg(**headers: str) -> Message:
    return Message(list(headers.items()))


REPLIES = {
    "CoreShowChannels": [msg(Event="CoreShowChannel", Channel="PJSIP/resident-1",
                             Uniqueid="17.0", Linkedid="17.0", Context="from-resident",
                             CallerIDNum="07700900123", Duration="00:01:00"),
                         msg(Event="CoreShowChannel", Channel="PJSIP/agent1-1",
                             Uniqueid="callback-x-1-1", Linkedid="callback-x-1-1",
                             Context="callcentre-callback", Duration="00:00:10")],
    "QueueStatus": [msg(Event="QueueMember", Queue="council", Name="Agent 1",
                        Location="PJSIP/agent1", Status="1", Paused="0", InCall="0"),
                    msg(Event="QueueEntry", Queue="council", Uniqueid="17.0", Position="1",
                        Wait="30")],
}


async def test_resync_asks_once_and_every_consumer_gets_the_same_answers() -> None:
    asked: list[str] = []

    async def send(action: str, fields: Any = None) -> ActionResult:
        asked.append(action)
        if action == "ListCommands":  # an account that may not Originate
            return ActionResult(msg(Response="Success", Setvar="Sets a channel variable. "
                                    "(Priv: call,all)", DBGet="x", CoreShowChannels="x",
                                    QueueStatus="x"))
        return ActionResult(msg(Response="Success"), tuple(REPLIES[action]))

    bus, seen = EventBus(), []
    bus.subscribe(ResyncStarted, seen.append)
    bus.subscribe(Resynced, seen.append, seen.append)  # two consumers, one answer
    tr = translator()
    events = AmiEvents(tr, bus.publish)
    resync = Resync(send, tr, frozenset(LAB_INBOUND), FakeClock(), bus.publish, events.booted)
    run = asyncio.create_task(resync.run())
    await asyncio.sleep(0)
    assert asked == []  # waits for FullyBooted
    events(msg(Event="FullyBooted"))
    found = await run
    assert asked == ["CoreShowChannels", "QueueStatus", "ListCommands"] and resync.runs == 1
    assert resync.refused_actions == ("Originate",)
    assert isinstance(seen[0], ResyncStarted) and seen[1] is seen[2] is found
    assert found is not None and found.live_linkedids == {"17.0", "callback-x-1-1"}
    assert found.channel_ids == {"17.0", "callback-x-1-1"}
    assert [c.linkedid for c in found.adoptable] == ["17.0"]
    assert found.adoptable[0].queue == "council"
    assert found.members == (cev.MemberChanged("council", "PJSIP/agent1", "Agent 1", False, 1,
                                               False),)


async def test_a_failed_resync_is_asked_again_while_the_link_stays_up(monkeypatch: Any) -> None:
    monkeypatch.setattr("callcentre.ami.resync.RETRY_DELAYS", (0.01, 0.01, None))
    failures = iter([AmiActionTimeout("QueueStatus", "cc-2", 10)])

    async def send(action: str, fields: Any = None) -> ActionResult:
        if action == "QueueStatus" and (err := next(failures, None)) is not None:
            raise err
        if action == "ListCommands":  # an Asterisk that cannot say: not judged
            raise AmiActionFailed(action, msg(Response="Error", Message="Invalid/unknown"))
        return ActionResult(msg(Response="Success"), tuple(REPLIES[action]))

    bus, seen = EventBus(), []
    bus.subscribe(Resynced, seen.append)
    tr = translator()
    events = AmiEvents(tr, bus.publish)
    resync = Resync(send, tr, frozenset(LAB_INBOUND), FakeClock(), bus.publish, events.booted)
    events(msg(Event="FullyBooted"))
    found = await resync.run()
    assert found is not None and seen == [found] and resync.failures == 1
    assert resync.refused_actions == ()

    async def link_gone(action: str, fields: Any = None) -> ActionResult:
        events.booted.clear()  # what the root does when the link drops
        raise AmiActionTimeout(action, "cc-4", 10)

    gone = Resync(link_gone, tr, frozenset(LAB_INBOUND), FakeClock(), bus.publish, events.booted)
    assert await gone.run() is None and gone.failures == 1  # not asked again on a dead link
    assert seen == [found]


def test_the_ami_adapter_publishes_domain_events_and_knows_no_consumer() -> None:
    bus, seen = EventBus(), []
    bus.subscribe(cev.DeviceChanged, seen.append)
    events = AmiEvents(translator(), bus.publish)
    events(msg(Event="DeviceStateChange", Device="PJSIP/agent1", State="INUSE"))
    events(msg(Event="TestEvent"))
    assert seen == [cev.DeviceChanged("PJSIP/agent1", "INUSE")]


def test_a_call_answered_while_unseen_is_answered_not_abandoned() -> None:
    """tests/fixtures/ami/answered_resync.ami (captured from the real harness): a resident
    queued, an agent answered a second later, and 5 s in CoreShowChannels/QueueStatus were
    asked. The service saw the join, then (link down) nothing until the resync: the caller's
    leg is out of the queue and bridged to the member's AppQueue leg, so it was answered;
    the hang-up that follows must not read as an abandon."""
    messages = parse_all(trace_bytes("answered_resync"))
    reply = [i for i, m in enumerate(messages) if m.action_id == "capture-CoreShowChannels"]
    channels = [m for m in messages[reply[0]:] if m.event == "CoreShowChannel"
                and m.action_id == "capture-CoreShowChannels"]
    queued = {m.get("Uniqueid") or "": m for m in messages if m.event == "QueueEntry"}
    before = messages[:reply[0]]
    now = datetime.fromtimestamp(max(m.timestamp or 0 for m in before), UTC)
    tr = translator()
    tracker = CallTracker(always_open(ZoneInfo("Europe/London")).is_open)
    seen_until_cut = next(i for i, m in enumerate(before) if m.event == "AgentConnect")
    for m in before[:seen_until_cut]:  # the link goes down as the agent answers
        if isinstance(event := tr(m), CallEvent):
            tracker.apply(event)
    (live,) = adoptable(channels, queued, tr, frozenset(LAB_INBOUND), now)
    assert live.queue == "council" and live.agent_interface == "PJSIP/agent1"
    (call,) = tracker.active()
    assert tracker.refresh(live) is not None and tracker.refresh(live) is None  # once
    finished = None
    for m in messages[reply[-1]:]:  # the link is back: the rest of the call
        if isinstance(event := tr(m), CallEvent):
            finished = tracker.apply(event) or finished
    assert finished is not None and finished.outcome is Outcome.ANSWERED
    truth = expected_from_queue_log(queue_log((FIXTURES / "answered_resync.queue_log").read_text()))
    outcome, wait = truth[call.linkedid]
    assert outcome == "answered" and finished.agent_name == "Agent 1"
    # AMI can tell the answer only to within the ring time (1 s here) and whole seconds
    assert finished.wait_seconds is not None and wait - 2.0 <= finished.wait_seconds <= wait + 1


def test_a_consumer_that_raises_keeps_the_event_from_no_other() -> None:
    bus, seen = EventBus(), []

    def broken(event: object) -> None:
        raise RuntimeError("call log bug")

    bus.subscribe(cev.DeviceChanged, broken, seen.append)
    event = cev.DeviceChanged("PJSIP/agent1", "INUSE")
    with pytest.raises(RuntimeError, match="call log bug"):  # the producer counts it
        bus.publish(event)
    assert seen == [event]


def test_a_malformed_live_channel_costs_only_itself() -> None:
    good = REPLIES["CoreShowChannels"][0]
    bad = msg(Event="CoreShowChannel", Uniqueid="18.0", Linkedid="18.0", Context="from-resident",
              Duration="00:00:05")  # no Channel
    queued = {"17.0": msg(Event="QueueEntry", Queue="council", Uniqueid="17.0", Wait="soon")}
    calls = adoptable([bad, good], {}, translator(), frozenset(LAB_INBOUND), AT)
    assert [c.linkedid for c in calls] == ["17.0"]
    assert adoptable([good], queued, translator(), frozenset(LAB_INBOUND), AT) == []


def test_a_caller_hearing_the_estimated_wait_is_still_a_resident() -> None:
    """Between visits to the queue the caller's leg runs callcentre-wait (a Gosub from
    council-inbound, #14): found there by a resync, it is a live resident's call."""
    messages = parse_all(trace_bytes("answered_resync"))
    reply = [i for i, m in enumerate(messages) if m.action_id == "capture-CoreShowChannels"]
    (caller,) = [m for m in messages[reply[0]:] if m.event == "CoreShowChannel"
                 and m.action_id == "capture-CoreShowChannels" and m.get("Application") == "Queue"]

    def moved(context: str) -> Message:
        changes = {"Context": context, "Application": "Playback", "BridgeId": ""}
        return Message([(k, changes.get(k, v)) for k, v in caller.items()])

    (live,) = adoptable([moved("callcentre-wait")], {}, translator(), frozenset(LAB_INBOUND), AT)
    assert live.linkedid == caller.get("Linkedid") and live.answered_at is None
    assert adoptable([moved("somewhere-else")], {}, translator(), frozenset(LAB_INBOUND),
                     AT) == []
