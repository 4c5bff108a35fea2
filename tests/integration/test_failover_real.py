"""Two ``callcentre serve`` instances on one PostgreSQL database and real Asterisk 22s
(#13): a burst on each of two PBXs (two sites) while the leader of both is killed
(SIGKILL), and then the next leader paused (SIGSTOP) past its lease; and the leader killed
while a callback is on the line at each PBX. The standby takes over each time; every call of both
bursts is logged exactly once, as its own PBX's queue_log says it ended; the paused
leader, woken, writes nothing and exits 75 to be started again as a standby."""

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

from callcentre.ami.pbx import RESULT_FAMILY
from callcentre.domain.callbacks import Callback, Status
from callcentre.storage.callback_repository import callback_from_row
from tests import postgres
from tests.adapters.test_postgres_serve import empty_database
from tests.asterisk.harness import AsteriskHarness
from tests.clock import python_command
from tests.integration.test_callbacks_kill_real import originates, resident_up, until
from tests.integration.test_callbacks_real import POLICY, callback_phones
from tests.integration.test_calls_real import free_port, scenario
from tests.integration.test_ledger_real import assert_as_queue_log, queue_log_of
from tests.support import policy_file

pytestmark = [pytest.mark.asterisk, pytest.mark.postgres, pytest.mark.slow]
LEASE = 3.0
EX_TEMPFAIL = 75


def sites_file(tmp: Path, **pbxs: AsteriskHarness) -> str:
    """A config file with a [[pbx]] table for each of ``pbxs`` (the first the main one)."""
    tables = "".join(
        f'[[pbx]]\nname = "{name}"\nami_host = "{a.ami_host}"\nami_port = {a.ami_port}\n'
        f'ami_username = "{a.ami_username}"\nami_secret = "{a.ami_secret}"\n'
        f'queue_log = "{queue_log_of(a)}"\n' for name, a in pbxs.items())
    path = tmp / "sites.toml"
    path.write_text(tables, encoding="utf-8")
    return str(path)


class Instance:
    """One ``callcentre serve`` of several on the same database and PBX (or PBXs, with
    CALLCENTRE_CONFIG naming a ``sites_file``)."""

    def __init__(self, asterisk: AsteriskHarness, url: str, tmp: Path, name: str,
                 **extra: str) -> None:
        self.name, self.port, self.log = name, free_port(), tmp / f"{name}.log"
        env = {**os.environ, "CALLCENTRE_DB": url, "CALLCENTRE_INSTANCE_NAME": name,
               "CALLCENTRE_LEADER_LEASE_SECONDS": str(LEASE),
               "CALLCENTRE_QUEUE_LOG": queue_log_of(asterisk),
               "CALLCENTRE_AMI_HOST": asterisk.ami_host,
               "CALLCENTRE_AMI_PORT": str(asterisk.ami_port),
               "CALLCENTRE_AMI_USERNAME": asterisk.ami_username,
               "CALLCENTRE_AMI_SECRET": asterisk.ami_secret,
               "CALLCENTRE_HTTP_PORT": str(self.port),
               "CALLCENTRE_POLICY_FILE": policy_file(tmp), **extra}
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(python_command("serve"), env=env, stdout=out,
                                         stderr=subprocess.STDOUT)

    def leadership(self) -> list[dict[str, Any]] | None:
        """Each PBX's leadership as this instance sees it (/healthz ``pbxs``)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz",
                                        timeout=2) as resp:
                body: dict[str, Any] = json.load(resp)
        except urllib.error.HTTPError as err:
            body = json.load(err)
        except OSError:
            return None  # not answering yet
        pbxs: list[dict[str, Any]] = body["pbxs"]
        assert pbxs[0]["role"] == body["leadership"]["role"]  # the main PBX's, as before
        return pbxs

    async def role(self, want: str, within: float = 30.0) -> float:
        """Seconds until this instance has role ``want`` for every PBX."""
        started = time.monotonic()
        while True:
            now = await asyncio.to_thread(self.leadership)
            if now is not None and {p["role"] for p in now} == {want}:
                return time.monotonic() - started
            assert self.proc.poll() is None, self.tail()
            assert time.monotonic() - started < within, (now, self.tail())
            await asyncio.sleep(0.1)

    def tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-40:])

    def end(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait(10)


async def settled(url: str, ids: set[str], timeout: float = 90) -> dict[str, tuple[Any, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        conn = await asyncpg.connect(url)
        try:
            rows = await conn.fetch("SELECT linkedid, outcome, wait_seconds, ledger FROM calls")
        finally:
            await conn.close()
        found = {r["linkedid"]: (r["outcome"], r["wait_seconds"]) for r in rows if r["ledger"]}
        if ids <= set(found) or time.monotonic() > deadline:
            assert len(rows) == len({r["linkedid"] for r in rows})  # each call once
            return found
        await asyncio.sleep(0.5)


async def test_a_burst_on_two_pbxs_while_the_leader_is_killed_then_paused(
        asterisk: AsteriskHarness, north: AsteriskHarness, pg_cluster: postgres.Cluster,
        tmp_path: Path) -> None:
    url = await empty_database(pg_cluster)
    started: list[Instance] = []
    sites = sites_file(tmp_path, main=asterisk, north=north)

    def start(name: str) -> Instance:
        started.append(Instance(asterisk, url, tmp_path, name, CALLCENTRE_CONFIG=sites))
        return started[-1]

    try:
        a = start("a")
        await a.role("leader")
        b = start("b")
        await b.role("standby")
        burst = asyncio.create_task(scenario(asterisk.burst, callers=20, agents=3, talk_s=2.0))
        north_burst = asyncio.create_task(scenario(north.burst, callers=12, agents=3,
                                                   talk_s=2.0))
        await asyncio.sleep(4)
        a.proc.send_signal(signal.SIGKILL)  # mid-burst: no flush, no goodbye
        killed_takeover = await b.role("leader")
        a2 = start("a2")  # its process manager starts it again
        await a2.role("standby")
        await asyncio.sleep(2)
        b.proc.send_signal(signal.SIGSTOP)  # mid-burst: lock held, lease running out
        paused_takeover = await a2.role("leader")
        await asyncio.sleep(1)
        b.proc.send_signal(signal.SIGCONT)
        assert await asyncio.to_thread(b.proc.wait, 30) == EX_TEMPFAIL, b.tail()
        result, at_north = await burst, await north_burst
        ids = {e.callid for e in result.events("ENTERQUEUE")}
        north_ids = {f"north:{e.callid}" for e in at_north.events("ENTERQUEUE")}
        assert (len(ids), len(north_ids)) == (20, 12)
        rows = await settled(url, ids | north_ids)  # each call once (both PBXs' together)
        assert_as_queue_log(result, {k: rows[k] for k in ids})
        assert_as_queue_log(at_north, {k.removeprefix("north:"): rows[k] for k in north_ids})
        assert killed_takeover < 5.0, killed_takeover
        assert LEASE - 0.5 < paused_takeover < LEASE + 5.0, paused_takeover
        print(f"takeover after SIGKILL {killed_takeover:.2f} s, after SIGSTOP "
              f"{paused_takeover:.2f} s (lease {LEASE} s)")
    finally:
        for instance in started:
            instance.end()


async def callback_of(url: str, callback_id: int) -> Callback:
    conn = await asyncpg.connect(url)
    try:
        row = await conn.fetchrow("SELECT * FROM callbacks WHERE id = $1", callback_id)
    finally:
        await conn.close()
    assert row is not None, f"callback {callback_id} lost"
    return callback_from_row(row)


def promise(instance: Instance, url: str, phone: str, site: str) -> int:
    """POST /api/callbacks on ``instance`` for ``site`` (due by the policy's promise, first
    attempt now)."""
    token = subprocess.run([*python_command("token", "create"), "--role", "agent", "--name",
                            "failover-tests"], env={**os.environ, "CALLCENTRE_DB": url},
                           capture_output=True, text=True, check=True).stdout.strip()
    body = json.dumps({"phone": phone, "reason": "Repair date", "site": site})
    request = urllib.request.Request(
        f"http://127.0.0.1:{instance.port}/api/callbacks", data=body.encode(), method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as resp:
        return int(json.load(resp)["id"])


async def test_the_leader_killed_while_a_callback_is_on_the_line_at_each_pbx(
        asterisk: AsteriskHarness, north: AsteriskHarness, pg_cluster: postgres.Cluster,
        tmp_path: Path) -> None:
    """SIGKILL of the leader of two PBXs once a resident answered a callback at each: the
    standby takes both over, follows each call still up to its end through its own PBX, and
    asks an agent how it went (needs_outcome), as a restart in place does; each callback is
    dialled once, by either instance, through its own site's Asterisk (each CDR)."""
    pbxs = (asterisk, north)
    for harness in pbxs:
        await asyncio.to_thread(harness.cli, f"database deltree {RESULT_FAMILY}")
        await asyncio.to_thread(harness.pause_members, True, "failover-tests",
                                ["agent2", "agent3"])
    url = await empty_database(pg_cluster)
    policy = tmp_path / "callbacks.toml"
    policy.write_text(POLICY)
    extra = {"CALLCENTRE_POLICY_FILE": str(policy),
             "CALLCENTRE_CONFIG": sites_file(tmp_path, main=asterisk, north=north),
             "CALLCENTRE_CALLBACK_AGENT_RING_SECONDS": "4"}
    started = [Instance(asterisk, url, tmp_path, "a", **extra)]
    try:
        await started[0].role("leader")
        started.append(Instance(asterisk, url, tmp_path, "b", **extra))
        await started[1].role("standby")
        marks = [harness.mark() for harness in pbxs]
        phones = dict(agent_ring_s=1, resident_ring_s=1, talk_s=10, keys="1")
        async with callback_phones(asterisk, **phones), callback_phones(north, **phones):
            ids = [await asyncio.to_thread(promise, started[1], url, f"0770090080{n}", site)
                   for n, site in enumerate(("main", "north"))]
            for harness in pbxs:
                await until(lambda h=harness: resident_up(h), 30, "the residents to answer")
            await asyncio.sleep(2.5)  # the key, then resident and agent talk
            for callback_id in ids:
                assert (await callback_of(url, callback_id)).status is Status.DIALLING
            started[0].proc.send_signal(signal.SIGKILL)
            await started[1].role("leader")
            done = [await followed(url, callback_id) for callback_id in ids]
        for cb, site in zip(done, ("", "north"), strict=True):
            assert (cb.status, cb.site) == (Status.NEEDS_OUTCOME, site), (cb, started[1].tail())
            (attempt,) = cb.attempts
            assert attempt.agent == "PJSIP/agent1" and attempt.answered_at is not None
        for harness, mark, callback_id in zip(pbxs, marks, ids, strict=True):
            await asyncio.to_thread(harness.wait_idle)
            assert originates(harness, mark) == [f"callback-{callback_id}-1"]
    finally:
        for instance in started:
            instance.end()
        for harness in pbxs:
            await asyncio.to_thread(harness.pause_members, False, "", ["agent2", "agent3"])


async def followed(url: str, callback_id: int) -> Callback:
    """The callback once its attempt is no longer dialling (30 s at most)."""
    for _ in range(300):
        cb = await callback_of(url, callback_id)
        if cb.status is not Status.DIALLING:
            break
        await asyncio.sleep(0.1)
    return cb
