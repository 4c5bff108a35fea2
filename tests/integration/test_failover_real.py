"""Two ``callcentre serve`` instances on one PostgreSQL database and the real Asterisk 22
(#13): a burst of 20 callers while the leader is killed (SIGKILL), and then the next leader
paused (SIGSTOP) past its lease. The standby takes over each time; every call of the burst
is logged exactly once, as queue_log says it ended; the paused leader, woken, writes
nothing and exits 75 to be started again as a standby."""

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

from tests import postgres
from tests.adapters.test_postgres_serve import empty_database
from tests.asterisk.harness import AsteriskHarness
from tests.clock import python_command
from tests.integration.test_calls_real import free_port, scenario
from tests.integration.test_ledger_real import assert_as_queue_log, queue_log_of
from tests.support import policy_file

pytestmark = [pytest.mark.asterisk, pytest.mark.postgres, pytest.mark.slow]
LEASE = 3.0
EX_TEMPFAIL = 75


class Instance:
    """One ``callcentre serve`` of several on the same database and PBX."""

    def __init__(self, asterisk: AsteriskHarness, url: str, tmp: Path, name: str) -> None:
        self.name, self.port, self.log = name, free_port(), tmp / f"{name}.log"
        env = {**os.environ, "CALLCENTRE_DB": url, "CALLCENTRE_INSTANCE_NAME": name,
               "CALLCENTRE_LEADER_LEASE_SECONDS": str(LEASE),
               "CALLCENTRE_QUEUE_LOG": queue_log_of(asterisk),
               "CALLCENTRE_AMI_HOST": asterisk.ami_host,
               "CALLCENTRE_AMI_PORT": str(asterisk.ami_port),
               "CALLCENTRE_AMI_USERNAME": asterisk.ami_username,
               "CALLCENTRE_AMI_SECRET": asterisk.ami_secret,
               "CALLCENTRE_HTTP_PORT": str(self.port),
               "CALLCENTRE_POLICY_FILE": policy_file(tmp)}
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(python_command("serve"), env=env, stdout=out,
                                         stderr=subprocess.STDOUT)

    def leadership(self) -> dict[str, Any] | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz",
                                        timeout=2) as resp:
                body: dict[str, Any] = json.load(resp)
        except urllib.error.HTTPError as err:
            body = json.load(err)
        except OSError:
            return None  # not answering yet
        leadership: dict[str, Any] = body["leadership"]
        return leadership

    async def role(self, want: str, within: float = 30.0) -> float:
        started = time.monotonic()
        while True:
            now = await asyncio.to_thread(self.leadership)
            if now is not None and now["role"] == want:
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


async def test_a_burst_while_the_leader_is_killed_then_paused(
        asterisk: AsteriskHarness, pg_cluster: postgres.Cluster, tmp_path: Path) -> None:
    url = await empty_database(pg_cluster)
    started: list[Instance] = []

    def start(name: str) -> Instance:
        started.append(Instance(asterisk, url, tmp_path, name))
        return started[-1]

    try:
        a = start("a")
        await a.role("leader")
        b = start("b")
        await b.role("standby")
        burst = asyncio.create_task(scenario(asterisk.burst, callers=20, agents=3, talk_s=2.0))
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
        result = await burst
        ids = {e.callid for e in result.events("ENTERQUEUE")}
        assert len(ids) == 20
        rows = await settled(url, ids)
        assert_as_queue_log(result, {k: rows[k] for k in ids})
        assert killed_takeover < 5.0, killed_takeover
        assert LEASE - 0.5 < paused_takeover < LEASE + 5.0, paused_takeover
        print(f"takeover after SIGKILL {killed_takeover:.2f} s, after SIGSTOP "
              f"{paused_takeover:.2f} s (lease {LEASE} s)")
    finally:
        for instance in started:
            instance.end()
