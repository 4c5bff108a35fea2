"""The whole service in-process: no PBX at all, and a fake AMI server replaying real calls."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from callcentre.ami.fakeserver import FakeAmiServer
from callcentre.app import Service
from callcentre.config import Config
from tests.support import policy_file, trace_bytes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def get_json(url: str, token: str | None = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as resp:
        return resp.status, await resp.json()


async def test_without_asterisk_it_keeps_running_and_says_so(tmp_path: Path) -> None:
    cfg = Config(ami_port=free_port(), db=str(tmp_path / "cc.sqlite3"),
                 policy_file=policy_file(tmp_path), http_port=free_port(),
                 ami_reconnect_max=0.2)
    async with Service(cfg).running() as svc:
        await asyncio.sleep(1.0)
        status, body = await get_json(f"http://127.0.0.1:{cfg.http_port}/healthz")
        assert status == 200
        assert body["status"] == "degraded"
        assert body["ami"]["state"] in ("connecting", "disconnected")
        assert "refused" in body["ami"]["detail"].lower() or body["ami"]["detail"]
        assert body["db"]["ok"] is True
        assert svc.ami.stats.reconnect_attempts >= 2  # it keeps retrying


async def test_bad_credentials_are_reported(tmp_path: Path) -> None:
    server = FakeAmiServer(username="callcentre", secret="right")
    port = await server.start()
    cfg = Config(ami_port=port, ami_secret="wrong", db=str(tmp_path / "cc.sqlite3"),
                 policy_file=policy_file(tmp_path),
                 http_port=free_port(), ami_reconnect_max=0.2)
    try:
        async with Service(cfg).running():
            await asyncio.sleep(0.5)
            _, body = await get_json(f"http://127.0.0.1:{cfg.http_port}/healthz")
            assert body["ami"]["state"] == "auth_failed"
    finally:
        await server.stop()


async def test_replayed_real_calls_reach_the_api_and_metrics(tmp_path: Path) -> None:
    server = FakeAmiServer(username="callcentre", secret="s")
    for action in ("CoreShowChannels", "QueueStatus"):
        server.on_action(action, events=[])
    port = await server.start()
    cfg = Config(ami_port=port, ami_secret="s", db=str(tmp_path / "cc.sqlite3"),
                 policy_file=policy_file(tmp_path),
                 http_port=free_port(), inbound_contexts=("from-resident",))
    base = f"http://127.0.0.1:{cfg.http_port}"
    try:
        async with Service(cfg).running() as svc:
            await svc.ami.wait_connected(5)
            await server.wait_logged_in()
            for i, name in enumerate(("answered", "abandoned")):
                await server.replay_trace(trace_bytes(name), rebase_to=time.time(), id_offset=i)
            token = await svc_token(svc)
            for _ in range(50):
                _, page = await get_json(f"{base}/api/calls", token)
                if len(page["items"]) == 2 and all(c["outcome"] for c in page["items"]):
                    break
                await asyncio.sleep(0.1)
            assert sorted(c["outcome"] for c in page["items"]) == ["abandoned", "answered"]
            async with aiohttp.ClientSession() as http, http.get(f"{base}/metrics") as resp:
                text = await resp.text()
            assert 'callcentre_calls_total{outcome="answered",queue="council"} 1.0' in text
            assert "callcentre_ami_connected 1.0" in text
    finally:
        await server.stop()


async def svc_token(svc: Service) -> str:
    from callcentre.web.auth import create_token

    return await create_token(svc.tokens, "agent", "test", svc.clock.now())


@pytest.mark.parametrize("query", ["date=0001-01-01", "date=9999-12-31",
                                   "from=0001-01-01&to=0001-01-02"])
async def test_dates_no_period_can_hold_are_refused_not_a_500(tmp_path: Path, query: str) -> None:
    cfg = Config(ami_port=free_port(), db=str(tmp_path / "cc.sqlite3"), http_port=free_port(),
                 policy_file=policy_file(tmp_path), ami_reconnect_max=0.2)
    async with Service(cfg).running():
        for path in ("/public/standards", "/api/standards", "/api/standards.csv"):
            async with aiohttp.ClientSession() as http, http.get(
                    f"http://127.0.0.1:{cfg.http_port}{path}?{query}") as resp:
                assert resp.status == 422, (path, resp.status)
                assert "between 1970 and 8999" in await resp.text()
