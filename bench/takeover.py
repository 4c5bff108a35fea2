"""Takeover after SIGKILL of the leader (#13): from the kill to the first call stored by
the instance that follows, over ``--kills`` kills (target: under 5 s).

    .venv/bin/python bench/takeover.py [--kills 20] [--lease 6]

Two ``callcentre serve`` processes share a throwaway PostgreSQL cluster (tests/postgres.py)
and one PBX (the fake AMI server: the takeover is the service's, not Asterisk's). Each
round SIGKILLs the leader; from that moment a new whole call is sent every 50 ms, and the
round's figure is the time until the first of them is in the database. A new standby is
started after each round, as a process manager would.

Reference, measured in the same run: the same kill of the only instance on SQLite and its
restart in place (what a single machine's process manager gives): kill to the first call
stored by the restarted process. Printed: median and worst of each, and their ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from callcentre.ami.fakeserver import FakeAmiServer
from tests import postgres
from tests.process import free_port
from tests.support import policy_file, synthetic_call

Stored = Callable[[list[str]], Awaitable[bool]]


class Fleet:
    """Instances of ``callcentre serve`` on one database and the fake PBX."""

    def __init__(self, tmp: Path, db: str, ami_port: int, lease: float) -> None:
        self.tmp, self.db, self.ami_port, self.lease = tmp, db, ami_port, lease
        self.procs: list[subprocess.Popen[bytes]] = []
        self.n = 0

    def start(self) -> subprocess.Popen[bytes]:
        self.n += 1
        env = {**os.environ, "CALLCENTRE_DB": self.db, "CALLCENTRE_AMI_PORT": str(self.ami_port),
               "CALLCENTRE_AMI_SECRET": "s", "CALLCENTRE_INBOUND_CONTEXTS": "from-resident",
               "CALLCENTRE_HTTP_PORT": str(free_port()), "CALLCENTRE_QUEUE_LOG": "",
               "CALLCENTRE_INSTANCE_NAME": f"i{self.n}", "CALLCENTRE_AMI_RECONNECT_MAX": "0.5",
               "CALLCENTRE_LEADER_LEASE_SECONDS": str(self.lease), "CALLCENTRE_LOG_LEVEL": "warning",
               "CALLCENTRE_POLICY_FILE": policy_file(self.tmp)}
        with (self.tmp / "serve.log").open("ab") as out:
            proc = subprocess.Popen([sys.executable, "-m", "callcentre", "serve"], env=env,
                                    stdout=out, stderr=subprocess.STDOUT)
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)


async def until_stored(server: FakeAmiServer, stored: Stored, tag: str,
                       started: float | None = None) -> float:
    """A new call every 50 ms until one is stored; seconds from ``started`` (now) until it
    was."""
    started = time.monotonic() if started is None else started
    sent: list[str] = []
    n = 0
    while True:
        n += 1
        linkedid = f"{int(time.time())}.{tag}{n}"
        await server.push(b"".join(synthetic_call(linkedid, time.time() - 40, 3, "answered")))
        sent.append(linkedid)
        if await stored(sent):
            return time.monotonic() - started
        if time.monotonic() - started > 60:
            raise RuntimeError("no call stored within 60 s of the kill")
        await asyncio.sleep(0.05)


async def first_up(server: FakeAmiServer, stored: Stored) -> None:
    await until_stored(server, stored, "warm")


async def failover(server: FakeAmiServer, fleet: Fleet, stored: Stored,
                   kills: int) -> list[float]:
    leader = fleet.start()
    await first_up(server, stored)  # the first instance leads and stores
    standby = fleet.start()
    await server.wait_logged_in(count=2, timeout=30)
    await asyncio.sleep(1.5)  # standing by on the lock
    took = []
    for k in range(kills):
        leader.send_signal(signal.SIGKILL)
        took.append(await until_stored(server, stored, f"k{k}-"))
        leader.wait(10)
        leader, standby = standby, fleet.start()
        await server.wait_logged_in(count=2, timeout=30)
        await asyncio.sleep(1.5)
    return took


async def restart_in_place(server: FakeAmiServer, fleet: Fleet, stored: Stored,
                           kills: int) -> list[float]:
    only = fleet.start()
    await first_up(server, stored)
    took = []
    for k in range(kills):
        killed = time.monotonic()
        only.send_signal(signal.SIGKILL)
        only.wait(10)
        only = fleet.start()
        took.append(await until_stored(server, stored, f"r{k}-", killed))
    return took


def pg_stored(url: str) -> Stored:
    async def stored(linkedids: list[str]) -> bool:
        conn = await asyncpg.connect(url)
        try:
            return bool(await conn.fetchval(
                "SELECT count(*) FROM calls WHERE linkedid = ANY($1)", linkedids))
        except asyncpg.UndefinedTableError:
            return False  # not migrated yet
        finally:
            await conn.close()
    return stored


def sqlite_stored(path: Path) -> Stored:
    def count(linkedids: list[str]) -> bool:
        if not path.exists():
            return False
        with sqlite3.connect(path) as conn:
            try:
                marks = ",".join("?" * len(linkedids))
                return bool(conn.execute(f"SELECT count(*) FROM calls WHERE linkedid IN"
                                         f" ({marks})", linkedids).fetchone()[0])
            except sqlite3.OperationalError:
                return False

    async def stored(linkedids: list[str]) -> bool:
        return await asyncio.to_thread(count, linkedids)
    return stored


async def main(kills: int, lease: float) -> None:
    server = FakeAmiServer(secret="s")
    server.on_action("CoreShowChannels", events=[])
    server.on_action("QueueStatus", events=[])
    port = await server.start()
    with tempfile.TemporaryDirectory() as tmp, postgres.cluster() as running:
        admin = await asyncpg.connect(running.dsn())
        await admin.execute("CREATE DATABASE takeover")
        await admin.close()
        url = running.dsn("takeover")
        fleet = Fleet(Path(tmp), url, port, lease)
        try:
            pg = await failover(server, fleet, pg_stored(url), kills)
        finally:
            fleet.stop()
        lite_path = Path(tmp) / "cc.sqlite3"
        fleet = Fleet(Path(tmp), str(lite_path), port, lease)
        try:
            lite = await restart_in_place(server, fleet, sqlite_stored(lite_path), kills)
        finally:
            fleet.stop()
    await server.stop()
    report("failover to the standby (PostgreSQL)", pg)
    report("restart in place (SQLite, reference)", lite)
    print(f"ratio failover / restart, median: {statistics.median(pg) / statistics.median(lite):.2f}"
          f"  worst: {max(pg) / max(lite):.2f}   (lease {lease:g} s; target: under 5 s)")


def report(what: str, seconds: list[float]) -> None:
    print(f"{what:40s} kills {len(seconds):3d}  median {statistics.median(seconds):6.2f} s"
          f"  worst {max(seconds):6.2f} s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--lease", type=float, default=6.0)
    args = parser.parse_args()
    asyncio.run(main(args.kills, args.lease))
