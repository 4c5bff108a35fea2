"""The service standing by, taking the lead and losing it (app.py, with a leadership the
test decides; tests/adapters/test_postgres_failover.py does it with processes on
PostgreSQL). A standby keeps its AMI login and serves HTTP, but logs no call and dials no
callback; taking the lead it takes back the calls in progress, resyncs and dials; losing
it, it passes nothing on and asks to be stopped."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from callcentre.ami.fakeserver import FakeAmiServer
from callcentre.app import Service
from callcentre.config import Config
from callcentre.services.callbacks import NewCallback
from callcentre.services.lead import Lead
from callcentre.testing import FakeLeadership
from tests.adapters.test_service_end_to_end import free_port, get_json
from tests.adapters.test_supervision import AGENT, until
from tests.support import policy_file, synthetic_call


class Standby:
    def __init__(self, svc: Service, server: FakeAmiServer, leadership: FakeLeadership) -> None:
        self.svc, self.server, self.leadership = svc, server, leadership

    async def push_call(self, n: int) -> str:
        """A whole call's events, read by the service before this returns."""
        linkedid = f"{int(time.time())}.{n}"
        frames = synthetic_call(linkedid, time.time() - 40, 3, "answered")
        read = self.svc.ami.stats.events
        await self.server.push(b"".join(frames))
        await until(lambda: self.svc.ami.stats.events >= read + len(frames), "events read")
        return linkedid

    def originates(self) -> int:
        return len([m for m in self.server.received if m.get("Action") == "Originate"])

    async def role(self) -> str:
        url = f"http://127.0.0.1:{self.svc.config.http_port}/healthz"
        role: str = (await get_json(url))[1]["leadership"]["role"]
        return role


@pytest.fixture
async def standby(tmp_path: Path) -> AsyncIterator[Standby]:
    server = FakeAmiServer(username="callcentre", secret="s")
    server.on_action("CoreShowChannels", events=[])
    server.on_action("QueueStatus", events=[AGENT])
    server.on_action("Originate")
    cfg = Config(ami_port=await server.start(), ami_secret="s", db=str(tmp_path / "cc.sqlite3"),
                 policy_file=policy_file(tmp_path), http_port=free_port(),
                 inbound_contexts=("from-resident",), ami_reconnect_max=0.2, queue_log="")
    svc = Service(cfg)
    leadership = FakeLeadership()
    svc.lead.leadership = leadership
    try:
        async with svc.running():
            await svc.ami.wait_connected(5)
            await server.wait_logged_in()
            yield Standby(svc, server, leadership)
    finally:
        await server.stop()


async def test_a_standby_logs_and_dials_nothing_until_it_leads(standby: Standby) -> None:
    svc = standby.svc
    assert await standby.role() == "standby"
    await standby.push_call(1)
    now = svc.clock.now()
    await svc.callbacks.service.create(NewCallback(  # the API works on every instance
        "07700900123", "bins", "Ann", due_by=now + timedelta(hours=1)))
    assert svc.calllog.tracker.active() == [] and not svc.calllog.stats.finished
    assert standby.server.logged_in == 1  # the login is kept warm
    assert "resync" not in svc.supervisor.report() and standby.originates() == 0
    assert "dialler" not in svc.supervisor.report()

    standby.leadership.grant()
    await until(lambda: svc.lead.consuming, "the lead to be taken")
    await standby.server.wait_action("QueueStatus", timeout=5)  # resynced on taking it
    await standby.server.wait_action("Originate", timeout=5)  # the due callback dialled
    await standby.push_call(2)
    await until(lambda: svc.calllog.stats.finished.get("answered", 0) == 1, "call 2 stored")
    assert await standby.role() == "leader" and not svc.lead.deposed.is_set()


async def test_a_deposed_leader_passes_nothing_on_and_asks_to_stop(standby: Standby) -> None:
    svc = standby.svc
    standby.leadership.grant()
    await until(lambda: svc.lead.consuming, "the lead to be taken")
    standby.leadership.depose()
    await until(svc.lead.deposed.is_set, "the service to ask to be stopped")
    await standby.push_call(1)
    assert not svc.calllog.stats.finished and svc.calllog.tracker.active() == []
    assert not svc.lead.consuming
    assert await standby.role() == "deposed"
    with pytest.raises(Exception, match="does not lead"):
        await svc.lead.guard(svc.ami.send_action)({"Action": "Originate"})


async def test_leading_is_said_once_the_calls_are_taken_back() -> None:
    """Between taking the lock and letting events pass, /healthz says "taking over": a
    load balancer or a test waiting for "leader" waits for a leader that logs calls."""
    leadership = FakeLeadership()
    taking_back = asyncio.Event()
    lead = Lead(leadership, "main", taking_back.wait, lambda: None)
    leadership.grant()
    starting = asyncio.create_task(lead.start())
    await until(leadership.leading, "the lock to be taken")
    assert lead.report().role == "taking over" and not lead.passes()
    taking_back.set()
    await starting
    assert lead.report().role == "leader" and lead.passes()
