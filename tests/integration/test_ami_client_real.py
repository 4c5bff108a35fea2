"""AmiClient against the real Asterisk of tests/asterisk/harness.py (least-rights account).

Skipped, with the reason, where the machine cannot run that Asterisk (conftest.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace

import pytest

from callcentre.ami.client import AmiClient, AmiSettings, LinkState
from callcentre.ami.errors import AmiAuthenticationError
from callcentre.ami.protocol import Message
from tests.asterisk.harness import AsteriskHarness

pytestmark = pytest.mark.asterisk


def settings_for(asterisk: AsteriskHarness) -> AmiSettings:
    return AmiSettings(
        asterisk.ami_host, asterisk.ami_port, asterisk.ami_username, asterisk.ami_secret,
        ping_interval=1.0, ping_timeout=2.0, action_timeout=5.0,
        reconnect_initial=0.2, reconnect_max=1.0,
    )


class Running:
    def __init__(self, client: AmiClient, events: list[Message]) -> None:
        self.client, self.events = client, events

    async def wait_event(self, match: Callable[[Message], bool], within: float) -> Message:
        deadline = time.monotonic() + within
        while True:
            for event in self.events:
                if match(event):
                    return event
            assert time.monotonic() < deadline, "event did not arrive"
            await asyncio.sleep(0.05)


@pytest.fixture
async def ami(asterisk: AsteriskHarness) -> AsyncIterator[Running]:
    events: list[Message] = []
    client = AmiClient(settings_for(asterisk), events.append, action_id_prefix="it")
    task = asyncio.create_task(client.run())
    try:
        await client.wait_connected(10)
        yield Running(client, events)
    finally:
        await client.close()
        await task


async def test_login_ping_and_fully_booted(ami: Running) -> None:
    assert ami.client.state is LinkState.CONNECTED
    pong = await ami.client.send_action("Ping")
    assert pong.response["Ping"] == "Pong"
    assert pong.response.action_id is not None
    assert pong.response.action_id.startswith("it-")
    await ami.wait_event(lambda e: e.event == "FullyBooted", 5)
    await asyncio.sleep(1.5)  # a watchdog Ping went by, answered: still up
    assert ami.client.state is LinkState.CONNECTED
    assert ami.client.stats.ping_timeouts == 0


async def test_core_show_channels_event_list(ami: Running) -> None:
    result = await ami.client.send_action("CoreShowChannels")
    assert result.response.get("EventList") == "start"
    assert result.complete is not None
    assert result.complete.event == "CoreShowChannelsComplete"
    assert result.complete["ListItems"] == str(len(result.events))
    assert all(e.event == "CoreShowChannel" for e in result.events)


async def test_queue_status_event_list(ami: Running, asterisk: AsteriskHarness) -> None:
    result = await ami.client.send_action("QueueStatus", {"Queue": asterisk.queue})
    assert result.complete is not None
    assert result.complete.event == "QueueStatusComplete"
    names = [e.event for e in result.events]
    assert names[0] == "QueueParams"
    assert names.count("QueueMember") == len(asterisk.agents)
    assert {e["Location"] for e in result.events if e.event == "QueueMember"} == {
        f"PJSIP/{agent}" for agent in asterisk.agents
    }
    assert not [e for e in ami.events if e.event in ("QueueParams", "QueueMember")]


async def test_bad_secret_is_auth_failed(asterisk: AsteriskHarness) -> None:
    states: list[LinkState] = []
    settings = replace(settings_for(asterisk), secret="not-the-secret")
    client = AmiClient(settings, lambda m: None, on_state=lambda s, r: states.append(s))
    task = asyncio.create_task(client.run())
    try:
        with pytest.raises(AmiAuthenticationError):
            await client.wait_connected(10)
        assert client.state is LinkState.AUTH_FAILED
        assert client.stats.auth_failures >= 1
    finally:
        await client.close()
        await task
    assert LinkState.CONNECTED not in states


async def test_real_call_events_reach_the_handler(ami: Running, asterisk: AsteriskHarness) -> None:
    result = await asyncio.to_thread(asterisk.answered, ring_s=0.5, talk_s=1, case_ref="AMI-1")
    callid = result.uniqueid_of(result.numbers[0])
    await ami.wait_event(lambda e: e.event == "Hangup" and e.get("Uniqueid") == callid, 10)
    # AgentComplete is raised when the bridge ends and may follow the caller's Hangup
    await ami.wait_event(lambda e: e.event == "AgentComplete" and e.get("Linkedid") == callid, 15)
    mine = [e for e in ami.events if e.get("Linkedid") == callid]
    assert {"Newchannel", "QueueCallerJoin", "AgentConnect", "AgentComplete", "Hangup"} <= {
        e.event for e in mine
    }
    join = next(e for e in mine if e.event == "QueueCallerJoin")
    assert join.chan_variables()["CASE_REF"] == "AMI-1"
    stamps = [e.timestamp for e in mine]
    assert None not in stamps
    assert stamps == sorted(stamps)  # type: ignore[type-var]  # arrival order is time order
    assert ami.client.stats.handler_errors == 0
