"""Every long-running task recovers from an unexpected exception: the supervisor starts it
again, counts it, and /healthz says so; the service keeps logging calls and dialling."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from callcentre.ami.fakeserver import FakeAmiServer
from callcentre.app import Service
from callcentre.config import Config
from callcentre.services.callbacks import NewCallback
from tests.adapters.test_service_end_to_end import free_port, get_json, svc_token
from tests.support import policy_file, synthetic_call

AGENT = {"Event": "QueueMember", "Queue": "council", "Name": "Agent One", "Location": "PJSIP/agent1",
         "StateInterface": "PJSIP/agent1", "Status": "1", "Paused": "0", "InCall": "0"}


class Running:
    def __init__(self, svc: Service, server: FakeAmiServer) -> None:
        self.svc, self.server = svc, server
        self.calls = 0

    async def call_is_logged(self) -> None:
        """A new call through the fake PBX ends up stored, finished."""
        self.calls += 1
        linkedid = f"{int(time.time())}.{self.calls}"
        await self.server.push(b"".join(synthetic_call(linkedid, time.time() - 40, 3,
                                                        "answered")))
        await until(lambda: self.svc.calllog.stats.finished.get("answered", 0) >= self.calls,
                    f"call {linkedid} to be stored")

    async def callback_is_dialled(self) -> None:
        before = len([m for m in self.server.received if m.get("Action") == "Originate"])
        now = self.svc.clock.now()
        await self.svc.callbacks.service.create(NewCallback(
            "07700900123", "bins", "Ann", due_by=now + timedelta(hours=1)))
        await self.server.wait_action("Originate", count=before + 1, timeout=5)

    async def health(self) -> dict[str, Any]:
        return (await get_json(f"http://127.0.0.1:{self.svc.config.http_port}/healthz"))[1]

    async def restarted(self, task: str) -> None:
        await until(lambda: self.svc.supervisor.report()[task].restarts == 1,
                    f"{task} to be restarted")
        health = await self.health()
        assert health["status"] == "degraded"
        assert health["tasks"][task]["failing"] is True
        assert "injected" in health["tasks"][task]["last_error"]
        async with aiohttp.ClientSession() as http, http.get(
                f"http://127.0.0.1:{self.svc.config.http_port}/metrics") as resp:
            assert f'callcentre_task_restarts_total{{task="{task}"}} 1.0' in await resp.text()


async def until(predicate: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


def fail_once(target: object, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The next call of ``target.name`` raises; later ones work as before."""
    original = getattr(target, name)

    def once(*args: Any, **kwargs: Any) -> Any:
        monkeypatch.setattr(target, name, original)
        raise RuntimeError(f"injected failure in {name}")

    monkeypatch.setattr(target, name, once)


@pytest.fixture
async def running(tmp_path: Path, request: pytest.FixtureRequest,
                  monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Running]:
    server = FakeAmiServer(username="callcentre", secret="s")
    server.on_action("CoreShowChannels", events=[])
    server.on_action("QueueStatus", events=[AGENT])
    server.on_action("Originate")
    cfg = Config(ami_port=await server.start(), ami_secret="s", db=str(tmp_path / "cc.sqlite3"),
                 http_open_routes=("/metrics",),
                 policy_file=policy_file(tmp_path), http_port=free_port(),
                 inbound_contexts=("from-resident",), ami_reconnect_max=0.2)
    svc = Service(cfg)
    before_start = getattr(request, "param", None)
    if before_start:
        before_start(svc, monkeypatch)
    try:
        async with svc.running():
            await svc.ami.wait_connected(5)
            await server.wait_logged_in()
            yield Running(svc, server)
    finally:
        await server.stop()


async def test_nothing_failed_nothing_restarted(running: Running) -> None:
    await running.call_is_logged()
    health = await running.health()
    assert {t: v["restarts"] for t, v in health["tasks"].items()} == {
        "ami": 0, "calllog": 0, "dialler": 0, "leadership": 0, "live-feed": 0, "relay": 0,
        "resync": 0, "retention": 0}
    assert health["status"] == "ok"


async def test_the_ami_reader(running: Running, monkeypatch: pytest.MonkeyPatch) -> None:
    fail_once(running.svc.ami, "_deliver", monkeypatch)
    await running.server.push(b"Event: Anything\r\n\r\n")  # read, and the reader raises
    await running.restarted("ami")
    await running.server.wait_action("Login", count=2, timeout=5)  # logged in again
    await running.svc.ami.wait_connected(5)
    await running.call_is_logged()


async def test_the_call_log_writer(running: Running, monkeypatch: pytest.MonkeyPatch) -> None:
    fail_once(running.svc.calllog, "_flush_loop", monkeypatch)
    await running.call_is_logged()  # the batch it failed on is written after the restart
    await running.restarted("calllog")
    await running.call_is_logged()


def _dialler_fails_once(svc: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    # its first read of the table (before, a database error there ended the dialler for good)
    fail_once(svc.callbacks.diallers.main, "rebuild", monkeypatch)


@pytest.mark.parametrize("running", [_dialler_fails_once], indirect=True)
async def test_the_dialler(running: Running) -> None:
    await running.restarted("dialler")
    await until(lambda: bool(running.svc.callbacks.diallers.main.board.available()), "the agent")
    await running.callback_is_dialled()


def _resync_fails_once(svc: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    fail_once(svc.resync, "_found", monkeypatch)


@pytest.mark.parametrize("running", [_resync_fails_once], indirect=True)
async def test_the_resync(running: Running) -> None:
    await running.restarted("resync")
    await until(lambda: running.svc.resync.runs == 1, "the resync to finish")
    await until(lambda: bool(running.svc.callbacks.diallers.main.board.available()), "the agent")
    await running.call_is_logged()
    await running.callback_is_dialled()


async def test_the_live_feed(running: Running, monkeypatch: pytest.MonkeyPatch) -> None:
    feed = running.svc.callbacks.feed
    fail_once(feed, "publish", monkeypatch)
    feed.bump()
    await running.restarted("live-feed")
    with feed.subscribe(None, None) as stream:  # the agents' page still hears of changes
        feed.bump()
        message = await stream.next(5)
        assert message is not None and message.startswith(b"event: prompts")


async def test_an_event_the_handler_fails_on_is_skipped_counted_and_said(
        running: Running, monkeypatch: pytest.MonkeyPatch) -> None:
    """Not a restart: the reader goes on past the one event, and /healthz and the metrics
    say an item was skipped."""
    fail_once(running.svc.tracker, "apply", monkeypatch)
    await running.server.push(b"".join(synthetic_call("1700000000.9", time.time() - 40, 3,
                                                      "answered")))
    await until(lambda: running.svc.ami.stats.handler_errors == 1, "the skip")
    health = await running.health()
    assert health["status"] == "degraded"
    assert any("skipped after an error" in w for w in health["ami"]["warnings"])
    assert running.svc.supervisor.report()["ami"].restarts == 0
    await running.call_is_logged()
    async with aiohttp.ClientSession() as http, http.get(
            f"http://127.0.0.1:{running.svc.config.http_port}/metrics") as resp:
        text = await resp.text()
    assert "callcentre_ami_handler_errors_total 1.0" in text
    assert "callcentre_calls_set_aside_total 0.0" in text


async def test_a_stored_row_that_cannot_be_read_is_skipped_not_fatal(running: Running) -> None:
    """A callback stored with a time no reader accepts (an old bug, a hand edit): lists and
    the due-loop leave it out and go on; asked for alone it is a 409; it is reported."""
    svc, now = running.svc, running.svc.clock.now()
    bad = await svc.callbacks.service.create(NewCallback(
        "07700900124", "rent", "Ann", due_by=now + timedelta(hours=3),
        not_before=now + timedelta(hours=2)))
    with sqlite3.connect(svc.config.db) as con:
        con.execute("UPDATE callbacks SET not_before = -1e15, next_attempt_at = -1e15"
                    " WHERE id = ?", (bad.id,))
    await until(lambda: bool(svc.callbacks.diallers.main.board.available()), "the agent")
    await running.callback_is_dialled()  # the due-loop went past the bad row
    token = await svc_token(svc)
    base = f"http://127.0.0.1:{svc.config.http_port}"
    status, listed = await get_json(f"{base}/api/callbacks", token)
    assert status == 200 and bad.id not in [c["id"] for c in listed["items"]]
    assert len(listed["items"]) == 1
    status, body = await get_json(f"{base}/api/callbacks/{bad.id}", token)
    assert status == 409 and "cannot be read" in body["message"]
    health = await running.health()
    assert health["status"] == "degraded"
    assert svc.db.unreadable.counts["callbacks"] >= 2
    async with aiohttp.ClientSession() as http, http.get(f"{base}/metrics") as resp:
        assert 'callcentre_storage_rows_unreadable_total{kind="callbacks"}' in await resp.text()
