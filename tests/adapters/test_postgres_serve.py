"""``callcentre serve`` on a postgresql:// URL: it migrates an empty database, stores the
calls AMI reports, keeps their day's figures, and never logs the URL's password. The
commands (``callcentre token create``, ``callcentre rebuild-figures``) take the same URL."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import asyncpg
import pytest

from callcentre.__main__ import main
from callcentre.ami.fakeserver import FakeAmiServer
from callcentre.storage.engines import repositories, shown
from tests import postgres
from tests.clock import python_command
from tests.contract.test_standards_repository import random_calls
from tests.process import Served
from tests.support import synthetic_call

pytestmark = pytest.mark.postgres
SECRET = "not-for-the-log"


def test_a_urls_password_is_never_shown() -> None:
    assert shown("postgresql://cc:s3cret@db.example:5432/cc") == (
        "postgresql://cc@db.example:5432/cc")
    assert shown("var/callcentre.sqlite3") == "var/callcentre.sqlite3"


async def empty_database(cluster: postgres.Cluster) -> str:
    """A new database with nothing in it, and its URL (with a password trust ignores)."""
    name = cluster.new_name()
    admin = await asyncpg.connect(cluster.dsn())
    try:
        await admin.execute(f"CREATE DATABASE {name}")
    finally:
        await admin.close()
    return cluster.dsn(name).replace(f"{postgres.SUPERUSER}@", f"{postgres.SUPERUSER}:{SECRET}@")


def calls(served: Served, bearer: str) -> list[dict[str, object]]:
    request = urllib.request.Request(served.base + "/api/calls",
                                     headers={"Authorization": f"Bearer {bearer}"})
    with urllib.request.urlopen(request, timeout=5) as resp:
        items: list[dict[str, object]] = json.load(resp)["items"]
    return items


async def test_serve_on_postgresql_stores_a_call_and_its_figures(
        tmp_path: Path, pg_cluster: postgres.Cluster) -> None:
    url = await empty_database(pg_cluster)
    made = await asyncio.to_thread(
        subprocess.run, python_command("token", "create", "--role", "manager", "--name", "M"),
        env={**os.environ, "CALLCENTRE_DB": url}, capture_output=True, text=True, check=True)
    bearer = made.stdout.strip()
    server = FakeAmiServer(username="callcentre", secret="s")
    server.on_action("CoreShowChannels", events=[])
    server.on_action("QueueStatus", events=[])
    served = await asyncio.to_thread(Served, tmp_path, db=url, ami_port=await server.start(),
                                     ami_secret="s", inbound_contexts="from-resident")
    try:
        await server.wait_logged_in(timeout=10)
        linkedid = f"{int(time.time())}.7"
        await server.push(b"".join(synthetic_call(linkedid, time.time() - 40, 3, "answered")))
        stored: list[dict[str, object]] = []
        for _ in range(100):  # the call log stores in batches
            stored = await asyncio.to_thread(calls, served, bearer)
            if stored and stored[0]["outcome"] == "answered":
                break
            await asyncio.sleep(0.1)
        assert [(c["linkedid"], c["outcome"]) for c in stored] == [(linkedid, "answered")]
        conn = await asyncpg.connect(url)
        try:
            figures = await conn.fetch("SELECT queue, n FROM figure_days WHERE outcome ="
                                       " 'answered' ORDER BY queue")
        finally:
            await conn.close()
        assert [(r["queue"], r["n"]) for r in figures] == [("*", 1), ("council", 1)]
        served.process.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(served.process.wait, 15) == 0, served.text()
    finally:
        served.stop()
        await server.stop()
    assert SECRET not in served.text() and SECRET not in made.stderr


async def _store_calls(url: str) -> None:
    stores = repositories(url, 1)
    await stores.db.open()
    try:
        await stores.db.migrate()
        await stores.calls.save(random_calls(200, seed=1))
    finally:
        await stores.db.close()


async def _execute(url: str, sql: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def test_rebuild_figures_on_postgresql_builds_then_checks_then_repairs(
        pg_cluster: postgres.Cluster, capsys: pytest.CaptureFixture[str]) -> None:
    """The per-day figures and the capacity model's half-hours (006) alike."""
    url = asyncio.run(empty_database(pg_cluster))
    asyncio.run(_store_calls(url))
    base = ["--set", f"db={url}", "--set", "timezone=UTC"]
    assert main([*base, "rebuild-figures"]) == 0
    assert "built the figures of every day for UTC" in capsys.readouterr().out
    assert main([*base, "rebuild-figures"]) == 0
    out = capsys.readouterr().out
    assert "capacity half-hours: all" in out and "agree with a recount of the calls" in out
    asyncio.run(_execute(url, "UPDATE capacity_half_hours SET arrivals = arrivals + 1"))
    assert main([*base, "rebuild-figures"]) == 1
    out = capsys.readouterr().out
    assert "capacity half-hours:" in out and "differed from a recount" in out
    assert main([*base, "rebuild-figures"]) == 0
    assert "capacity half-hours: all" in capsys.readouterr().out
    assert SECRET not in capsys.readouterr().err
