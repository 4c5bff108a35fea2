"""Several ``callcentre serve`` processes on one PostgreSQL database and one PBX (here the
fake AMI server; tests/integration/test_failover_real.py does it with Asterisk): one
leads, the others stand by with their AMI login warm; a leader that is killed is followed
within seconds, and one that is paused past its lease is deposed, writes nothing when it
wakes, and exits (75) for its process manager to start it again as a standby."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from callcentre.ami.fakeserver import FakeAmiServer
from tests import postgres
from tests.adapters.test_postgres_serve import empty_database
from tests.adapters.test_supervision import AGENT
from tests.clock import python_command
from tests.process import Served
from tests.support import synthetic_call

# slow: processes killed, paused and timed against leases, not hours: left out of the shifted-clock
# runs (two suites share two cores there, tests/clock-shifts.sh); the main run has them
pytestmark = [pytest.mark.postgres, pytest.mark.slow]
LEASE = 3.0  # short, so a paused leader is followed soon; long enough for a loaded machine
EX_TEMPFAIL = 75


def health(served: Served) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(served.base + "/healthz", timeout=2) as resp:
            body: dict[str, Any] = json.load(resp)
    except urllib.error.HTTPError as err:  # 503 while degraded still says who leads
        body = json.load(err)
    return body


async def role(served: Served, want: str, within: float = 15.0) -> float:
    """Seconds until ``served`` says it has role ``want``."""
    started = time.monotonic()
    while True:
        leadership = (await asyncio.to_thread(health, served))["leadership"]
        if leadership["role"] == want:
            return time.monotonic() - started
        assert time.monotonic() - started < within, (leadership, served.text()[-3000:])
        await asyncio.sleep(0.1)


async def stored(url: str, column: str = "outcome") -> dict[str, Any]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(f"SELECT linkedid, {column} FROM calls")
    finally:
        await conn.close()
    return {r["linkedid"]: r[column] for r in rows}


async def logged(url: str, linkedid: str, outcome: str | None) -> None:
    for _ in range(150):
        now = await stored(url)
        if linkedid in now and now[linkedid] == outcome:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{linkedid} not stored as {outcome}: {await stored(url)}")


async def call(server: FakeAmiServer, n: int, outcome: str) -> str:
    linkedid = f"{int(time.time())}.{n}"
    await server.push(b"".join(synthetic_call(linkedid, time.time() - 40, 3, outcome)))
    return linkedid


async def leader_and_standby(tmp_path: Path, settings: dict[str, Any]) -> tuple[Served, Served]:
    """Instances a and b on one database, a leading (started first) and b standing by."""
    served = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        served.append(await asyncio.to_thread(Served, tmp_path / name, instance_name=name,
                                              **settings))
        await role(served[-1], "leader" if name == "a" else "standby")
    return served[0], served[1]


async def test_a_callback_promised_on_the_standby_is_dialled_by_the_leader_at_once(
        tmp_path: Path, pg_cluster: postgres.Cluster) -> None:
    """Through the standby's API; the leader hears of it by NOTIFY (storage/postgres/
    notices.py), not at its next reload of what is due (horizon/2 later)."""
    url = await empty_database(pg_cluster)
    made = await asyncio.to_thread(
        subprocess.run, python_command("token", "create", "--role", "agent", "--name", "Sam"),
        env={**os.environ, "CALLCENTRE_DB": url}, capture_output=True, text=True, check=True)
    server = FakeAmiServer(username="callcentre", secret="s")
    server.on_action("CoreShowChannels", events=[])
    server.on_action("QueueStatus", events=[AGENT])
    server.on_action("Originate")
    settings = {"db": url, "ami_port": await server.start(), "ami_secret": "s",
                "inbound_contexts": "from-resident", "queue_log": ""}
    a, b = await leader_and_standby(tmp_path, settings)
    try:
        body = json.dumps({"phone": "07700900123", "reason": "Repair date",
                           "promised_by": "Sam"}).encode()
        request = urllib.request.Request(
            b.base + "/api/callbacks", data=body, method="POST",
            headers={"Authorization": f"Bearer {made.stdout.strip()}",
                     "Content-Type": "application/json"})
        with await asyncio.to_thread(urllib.request.urlopen, request, timeout=10) as resp:
            assert resp.status == 201
        originate = await server.wait_action("Originate", timeout=15)
        assert originate["Exten"] == "+447700900123"
        assert [m["Action"] for m in server.received].count("Originate") == 1
    finally:
        a.stop()
        b.stop()
        await server.stop()


def metrics(served: Served) -> str:
    with urllib.request.urlopen(served.base + "/metrics", timeout=5) as resp:
        text: str = resp.read().decode()
    return text


async def test_a_standby_shows_the_leaders_live_view(
        tmp_path: Path, pg_cluster: postgres.Cluster) -> None:
    """A resident waiting, seen by the leader from AMI, is on the standby's /metrics and
    wallboard too (services/relay.py: published by NOTIFY); the standby's own is empty."""
    url = await empty_database(pg_cluster)
    server = FakeAmiServer(username="callcentre", secret="s")
    server.on_action("CoreShowChannels", events=[])
    server.on_action("QueueStatus", events=[AGENT])
    settings = {"db": url, "ami_port": await server.start(), "ami_secret": "s",
                "inbound_contexts": "from-resident", "queue_log": "",
                "http_open_routes": "/metrics"}
    a, b = await leader_and_standby(tmp_path, settings)
    try:
        linkedid = f"{int(time.time())}.1"
        frames = synthetic_call(linkedid, time.time() - 5, 3, "answered")
        await server.push(b"".join(frames[:2]))  # arrived and queued: waiting now
        waiting = 'callcentre_queue_callers_waiting{queue="council"} 1.0'
        for _ in range(100):
            if waiting in await asyncio.to_thread(metrics, b):
                break
            await asyncio.sleep(0.1)
        assert waiting in await asyncio.to_thread(metrics, a)
        assert waiting in await asyncio.to_thread(metrics, b), "the standby never showed it"
        assert 'callcentre_queue_agents{queue="council",state="available"} 1.0' in (
            await asyncio.to_thread(metrics, b))
        assert "callcentre_leader 0.0" in await asyncio.to_thread(metrics, b)
    finally:
        a.stop()
        b.stop()
        await server.stop()


async def test_postgresql_restarted_under_load_loses_no_call(
        tmp_path: Path, pg_cluster: postgres.Cluster) -> None:
    """The leader keeps the lead (its term) through the restart: it takes the lock again
    within its lease, and stores every call it was told of once the server is back."""
    url = await empty_database(pg_cluster)
    server = FakeAmiServer(username="callcentre", secret="s")
    server.on_action("CoreShowChannels", events=[])
    server.on_action("QueueStatus", events=[])
    served = await asyncio.to_thread(
        Served, tmp_path, db=url, ami_port=await server.start(), ami_secret="s",
        # a lease longer than a restart takes on a loaded machine: the point is that the
        # leader keeps its lead through it, not how short the lease can be
        inbound_contexts="from-resident", leader_lease_seconds=20, queue_log="")
    try:
        await role(served, "leader")
        sent: list[str] = []

        async def burst() -> None:
            for n in range(60):
                sent.append(await call(server, 100 + n, "answered"))
                await asyncio.sleep(0.05)

        calls = asyncio.create_task(burst())
        await asyncio.sleep(1)
        await asyncio.to_thread(pg_cluster.restart)  # mid-burst
        await calls
        for linkedid in sent:
            await logged(url, linkedid, "answered")
        assert len(await stored(url)) == 60
        leadership = (await asyncio.to_thread(health, served))["leadership"]
        assert (leadership["role"], leadership["term"]) == ("leader", 1)
        assert served.process.poll() is None
    finally:
        served.stop()
        await server.stop()


async def test_killed_and_paused_leaders_are_followed_and_fenced(
        tmp_path: Path, pg_cluster: postgres.Cluster) -> None:
    url = await empty_database(pg_cluster)
    server = FakeAmiServer(username="callcentre", secret="s")
    server.on_action("CoreShowChannels", events=[])
    server.on_action("QueueStatus", events=[])
    settings = {"db": url, "ami_port": await server.start(), "ami_secret": "s",
                "inbound_contexts": "from-resident", "leader_lease_seconds": LEASE,
                "queue_log": ""}
    started: list[Served] = []

    def serve(name: str) -> Served:
        (tmp_path / name).mkdir()
        started.append(Served(tmp_path / name, instance_name=name, **settings))
        return started[-1]

    try:
        a = await asyncio.to_thread(serve, "a")
        await role(a, "leader")
        b = await asyncio.to_thread(serve, "b")
        await role(b, "standby")
        await server.wait_logged_in(count=2, timeout=10)  # the standby's login is warm
        first = await call(server, 1, "answered")
        await logged(url, first, "answered")

        a.process.send_signal(signal.SIGSTOP)  # paused: its lock is held, its lease runs out
        took = await role(b, "leader")
        assert took + 0.5 > LEASE, "taken over before the paused leader's lease ran out"
        second = f"{int(time.time())}.2"
        frames = synthetic_call(second, time.time() - 40, 3, "abandoned")
        await server.push(b"".join(frames[:2]))  # arrived and queued; a's socket keeps it
        await logged(url, second, None)
        a.process.send_signal(signal.SIGCONT)  # a wakes with the call in its socket
        assert await asyncio.to_thread(a.process.wait, 20) == EX_TEMPFAIL, a.text()[-3000:]
        assert "no longer leading PBX main" in a.text()
        assert (await stored(url, "term"))[second] == 2  # a stored nothing of it
        await server.push(b"".join(frames[2:]))
        await logged(url, second, "abandoned")

        a2 = await asyncio.to_thread(serve, "a2")  # its process manager starts it again
        await role(a2, "standby")
        await server.wait_logged_in(count=2, timeout=10)  # b and a2
        b.process.send_signal(signal.SIGKILL)
        assert await role(a2, "leader") < 5.0
        third = await call(server, 3, "answered")
        await logged(url, third, "answered")
        assert (await asyncio.to_thread(health, a2))["leadership"]["term"] == 3
        assert await stored(url) == {first: "answered", second: "abandoned",
                                     third: "answered"}
        # each written last by the leader of its time: a woke and wrote nothing
        assert await stored(url, "term") == {first: 1, second: 2, third: 3}
    finally:
        for served in started:
            if served.process.poll() is None:
                served.process.send_signal(signal.SIGCONT)
            served.stop()
        await server.stop()
