"""One resync per (re)connect: asked once, published to every consumer through the bus."""

from __future__ import annotations

import asyncio
from typing import Any

from callcentre.ami.client import ActionResult
from callcentre.ami.protocol import Message
from callcentre.ami.resync import AmiEvents, Resync
from callcentre.domain import callback_events as cev
from callcentre.domain.resync import Resynced, ResyncStarted
from callcentre.services.bus import EventBus
from callcentre.testing import FakeClock
from tests.support import LAB_INBOUND, translator


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
    assert asked == ["CoreShowChannels", "QueueStatus"] and resync.runs == 1
    assert isinstance(seen[0], ResyncStarted) and seen[1] is seen[2] is found
    assert found is not None and found.live_linkedids == {"17.0", "callback-x-1-1"}
    assert found.channel_ids == {"17.0", "callback-x-1-1"}
    assert [c.linkedid for c in found.adoptable] == ["17.0"]
    assert found.adoptable[0].queue == "council"
    assert found.members == (cev.MemberChanged("council", "PJSIP/agent1", "Agent 1", False, 1,
                                               False),)


def test_the_ami_adapter_publishes_domain_events_and_knows_no_consumer() -> None:
    bus, seen = EventBus(), []
    bus.subscribe(cev.DeviceChanged, seen.append)
    events = AmiEvents(translator(), bus.publish)
    events(msg(Event="DeviceStateChange", Device="PJSIP/agent1", State="INUSE"))
    events(msg(Event="TestEvent"))
    assert seen == [cev.DeviceChanged("PJSIP/agent1", "INUSE")]
