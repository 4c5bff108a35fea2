"""Several PBXs in one service: two fake Asterisks replay the very same real call (the
same Linkedid, the same queue) and the call log keeps two calls, named apart by site; each
site dials its own callbacks and answers its own residents' wait questions."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp

from callcentre.ami.fakeserver import FakeAmiServer
from callcentre.ami.message import Message
from callcentre.app import Service
from callcentre.config import Config, Pbx
from callcentre.domain.callback_policy import Source
from callcentre.domain.callbacks import Status
from callcentre.ports import CallQuery
from callcentre.storage.call_repository import SqliteCallRepository
from callcentre.testing import FakeLeadership
from callcentre.web.auth import create_token
from tests.adapters.test_service_end_to_end import free_port, get_json
from tests.adapters.test_staffing_web import history
from tests.adapters.test_supervision import AGENT
from tests.support import FIXTURES, policy_file, trace_bytes


async def _pbx(agent: bool = False) -> tuple[FakeAmiServer, int]:
    """A fake PBX; ``agent``: with one free agent in queue council, dialling callbacks."""
    server = FakeAmiServer(username="callcentre", secret="s")
    server.on_action("CoreShowChannels", events=[])
    server.on_action("QueueStatus", events=[AGENT] if agent else [])
    for action in ("Originate", "Setvar"):
        server.on_action(action)
    return server, await server.start()


def _two_sites(tmp: Path, main_port: int, north_port: int) -> Config:
    return Config(pbx=(Pbx("main", ami_port=main_port, ami_secret="s"),
                       Pbx("north", ami_port=north_port, ami_secret="s")),
                  db=str(tmp / "cc.sqlite3"), policy_file=policy_file(tmp),
                  http_port=free_port(), inbound_contexts=("from-resident",))


async def _connected(svc: Service) -> None:
    for site in svc.sites:
        await site.ami.wait_connected(5)


async def _calls(base: str, token: str, count: int) -> list[dict[str, Any]]:
    for _ in range(100):
        _, page = await get_json(f"{base}/api/calls", token)
        items: list[dict[str, Any]] = page["items"]
        if len(items) == count and all(c["outcome"] for c in items):
            return items
        await asyncio.sleep(0.1)
    raise AssertionError(f"{count} finished calls expected, the API lists {page['items']}")


async def test_two_pbxs_calls_with_the_same_linkedid_are_two_calls(tmp_path: Path) -> None:
    (main, main_port), (north, north_port) = await _pbx(), await _pbx()
    cfg = _two_sites(tmp_path, main_port, north_port)
    base = f"http://127.0.0.1:{cfg.http_port}"
    try:
        async with Service(cfg).running() as svc:
            await _connected(svc)
            await main.wait_logged_in()
            await north.wait_logged_in()
            now = time.time()
            await main.replay_trace(trace_bytes("answered"), rebase_to=now)
            await north.replay_trace(trace_bytes("answered"), rebase_to=now)
            token = await create_token(svc.tokens, "manager", "boss", svc.clock.now())
            calls = await _calls(base, token, 2)
            by_queue = {c["queue"]: c for c in calls}
            assert set(by_queue) == {"council", "north:council"}
            bare, named = by_queue["council"]["linkedid"], by_queue["north:council"]["linkedid"]
            assert named == f"north:{bare}"  # the same Linkedid at both PBXs, two calls
            assert {c["outcome"] for c in calls} == {"answered"}
            _, health = await get_json(f"{base}/healthz")
            sites = {p["pbx"]: p for p in health["pbxs"]}
            assert [p["pbx"] for p in health["pbxs"]] == ["main", "north"]
            assert sites["main"]["main"] and not sites["north"]["main"]
            assert {p["ami"] for p in health["pbxs"]} == {"connected"}
            assert {p["role"] for p in health["pbxs"]} == {"sole"}
            async with aiohttp.ClientSession() as http, http.get(
                    f"{base}/metrics", headers={"Authorization": f"Bearer {token}"}) as resp:
                text = await resp.text()
            for queue in ("council", "north:council"):
                assert f'callcentre_calls_total{{outcome="answered",queue="{queue}"}} 1.0' in text
            for site in ("main", "north"):
                assert f'callcentre_pbx_ami_connected{{pbx="{site}"}} 1.0' in text
                assert f'callcentre_pbx_leader{{pbx="{site}"}} 1.0' in text
            await _standards_per_site(base, token, by_queue["council"]["arrived_at"])
            # each site's promises are sized to its own queues (services/promises.py)
            assert await svc.standards.site_queues("north") == ("north:council",)
            assert await svc.standards.site_queues("") == ("council",)
    finally:
        await main.stop()
        await north.stop()


async def _standards_per_site(base: str, token: str, arrived_at: str) -> None:
    """/standards shows each site (its queues) and the whole council."""
    day = datetime.fromisoformat(arrived_at).astimezone(ZoneInfo("Europe/London")).date()
    offered = {}
    for site in ("", "main", "north"):
        status, body = await get_json(f"{base}/api/standards?period=day&date={day}&site={site}",
                                      token)
        assert status == 200, body
        assert body["site"] == (site or None)
        offered[site] = body["trend"][-1]["offered"]
    assert offered == {"": 2, "main": 1, "north": 1}
    for site, want in (("", 2), ("north", 1)):  # a range of days: one period, its own trend
        status, body = await get_json(f"{base}/api/standards?from={day}&to={day}&site={site}",
                                      token)
        assert status == 200, body
        assert (body["site"], [t["offered"] for t in body["trend"]]) == (site or None, [want])
    for query, says in (("site=south", "site must be one of main, north"),
                        ("site=north&queue=council", "a queue or a site, not both")):
        status, body = await get_json(f"{base}/api/standards?{query}", token)
        assert status == 422 and says in json.dumps(body), body
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.get(f"{base}/standards?site=north&date={day}&period=day") as resp:
            page = await resp.text()
        async with http.get(f"{base}/api/standards.csv?site=north&date={day}") as resp:
            csv_text = await resp.text()
    assert '<option value="north" selected>north</option>' in page
    assert "site=north" in page  # the downloads keep the site
    assert ",site north," in csv_text


async def test_a_site_whose_pbx_is_down_degrades_health_and_the_others_log_on(
        tmp_path: Path) -> None:
    main, main_port = await _pbx()
    cfg = Config(pbx=(Pbx("main", ami_port=main_port, ami_secret="s"),
                      Pbx("north", ami_port=free_port(), ami_secret="s")),
                 db=str(tmp_path / "cc.sqlite3"), policy_file=policy_file(tmp_path),
                 http_port=free_port(), inbound_contexts=("from-resident",),
                 ami_reconnect_max=0.2)
    base = f"http://127.0.0.1:{cfg.http_port}"
    try:
        async with Service(cfg).running() as svc:
            await svc.ami.wait_connected(5)
            await main.wait_logged_in()
            await main.replay_trace(trace_bytes("answered"), rebase_to=time.time())
            token = await create_token(svc.tokens, "manager", "boss", svc.clock.now())
            assert [c["queue"] for c in await _calls(base, token, 1)] == ["council"]
            _, health = await get_json(f"{base}/healthz")
            assert health["status"] == "degraded"
            north = health["pbxs"][1]
            assert north["pbx"] == "north" and north["ami"] in ("connecting", "disconnected")
            assert "ami@north" in health["tasks"] and "ami" in health["tasks"]
            async with aiohttp.ClientSession() as http, http.get(
                    f"{base}/metrics", headers={"Authorization": f"Bearer {token}"}) as resp:
                text = await resp.text()
            assert 'callcentre_pbx_ami_connected{pbx="north"} 0.0' in text
            assert 'callcentre_pbx_ami_connected{pbx="main"} 1.0' in text
    finally:
        await main.stop()


async def test_each_site_has_staffing_advice_of_its_own(tmp_path: Path) -> None:
    """A site's advice is worked out from its own queues' history, pooled, the council's
    from every queue; a site's figures, like a queue's, are a manager's."""
    (main, main_port), (north, north_port) = await _pbx(), await _pbx()
    cfg = _two_sites(tmp_path, main_port, north_port)
    base = f"http://127.0.0.1:{cfg.http_port}"
    try:
        async with Service(cfg).running() as svc:
            today = svc.clock.now().astimezone(svc.config.tz).date()
            await SqliteCallRepository(svc.db).save(
                history(svc, today, "council", 20) + history(svc, today, "north:council", 10))
            token = await create_token(svc.tokens, "manager", "boss", svc.clock.now())
            calls, needed = {}, {}
            for site in ("", "main", "north"):
                status, body = await get_json(f"{base}/api/standards?staffing=yes&site={site}",
                                              token)
                assert status == 200, body
                staffing = body["staffing"]
                assert (staffing["site"], staffing["queue"]) == (site or None, None)
                calls[site] = staffing["model"]["calls"]
                needed[site] = {h["needed"] for h in staffing["half_hours"]}
            assert calls == {"": 42 * 30, "main": 42 * 20, "north": 42 * 10}
            (council,), (at_main,), (at_north,) = needed[""], needed["main"], needed["north"]
            assert at_north < at_main < council, needed
            status, _ = await get_json(f"{base}/api/standards?site=north")
            assert status == 401  # no token: the council's published figures only
            async with aiohttp.ClientSession() as http, http.get(
                    f"{base}/standards?site=north",
                    headers={"Authorization": f"Bearer {token}"}) as resp:
                assert "<h2>Staffing at north for the week from" in await resp.text()
    finally:
        await main.stop()
        await north.stop()


async def test_the_leader_of_north_alone_settles_its_calls_and_leaves_the_sweep(
        tmp_path: Path) -> None:
    """Another instance leads the main PBX: this one, leading north only, settles north's
    calls against north's queue_log as its call log finishes them; the sweep (calls only
    queue_log has) is the main PBX's leader's, so the timeout here is not created."""
    (main, main_port), (north, north_port) = await _pbx(), await _pbx()
    north_log = tmp_path / "north-queue_log"
    north_log.write_text("")
    cfg = Config(pbx=(Pbx("main", ami_port=main_port, ami_secret="s"),
                      Pbx("north", ami_port=north_port, ami_secret="s",
                          queue_log=str(north_log))),
                 db=str(tmp_path / "cc.sqlite3"), policy_file=policy_file(tmp_path),
                 http_port=free_port(), inbound_contexts=("from-resident",),
                 queue_log_grace_seconds=0.1)
    svc = Service(cfg)
    svc.sites[0].lead.leadership = FakeLeadership()  # main: a standby here
    try:
        async with svc.running():
            await _connected(svc)
            reader = svc.sites[1].queue_log
            assert reader is not None
            for _ in range(100):  # a first start begins after the lines already there
                if reader.stats.state == "reading":
                    break
                await asyncio.sleep(0.1)
            with north_log.open("a") as f:
                f.write((FIXTURES / "timeout.queue_log").read_text())
                f.write((FIXTURES / "answered.queue_log").read_text())
            for _ in range(100):  # queue_log read first: the call log's finishing settles
                if svc.ledger.stats.lines:
                    break
                await asyncio.sleep(0.1)
            await north.replay_trace(trace_bytes("answered"))  # as queue_log has it
            for _ in range(100):
                if svc.ledger.stats.agreed + svc.ledger.stats.corrected:
                    break
                await asyncio.sleep(0.1)
            found = await svc.calls.find(CallQuery(limit=10))
            assert [(c.linkedid, bool(c.ledger)) for c in found.items] == [
                ("north:1795379766.0", True)]
            await asyncio.sleep(0.5)  # sweeps would have come and gone: none ran here
            assert svc.ledger.stats.created == 0
            assert [p["role"] for p in (await get_json(
                f"http://127.0.0.1:{cfg.http_port}/healthz"))[1]["pbxs"]] == ["standby", "sole"]
    finally:
        await main.stop()
        await north.stop()


def _sent(server: FakeAmiServer, action: str) -> list[Message]:
    return [m for m in server.received if (m.get("Action") or "").lower() == action.lower()]


def _dialled(server: FakeAmiServer) -> set[int]:
    """The callbacks ``server`` was asked to dial (ChannelId callback-<installation>-<id>-<n>)."""
    return {int((m.get("ChannelId") or "").split("-")[-2]) for m in _sent(server, "Originate")}


async def test_each_site_dials_its_own_callbacks_and_answers_its_own_residents(
        tmp_path: Path) -> None:
    """A callback is dialled through its own site's PBX, to that PBX's agents (both PBXs
    have a PJSIP/agent1); a resident queued at north is told the wait and promised a
    callback through north (the real wait_offer capture replayed there), and that callback
    is north's."""
    servers = [await _pbx(agent=True), await _pbx(agent=True)]
    (main, main_port), (north, north_port) = servers
    cfg = _two_sites(tmp_path, main_port, north_port)
    base = f"http://127.0.0.1:{cfg.http_port}"
    try:
        async with Service(cfg).running() as svc:
            await _connected(svc)
            token = await create_token(svc.tokens, "manager", "boss", svc.clock.now())
            ids = {site: await _promise(base, token, site) for site in ("main", "north", None)}
            status, body = await _post(base, token, {"phone": "07700900124", "reason": "bins",
                                                     "site": "south"})
            assert status == 422 and "site must be one of: main, north" in json.dumps(body)
            await main.wait_action("Originate", timeout=10)  # one agent each: one call each
            await north.wait_action("Originate", timeout=10)
            assert len(_dialled(main)) == 1 and _dialled(main) < {ids["main"], ids[None]}
            assert _dialled(north) == {ids["north"]}
            _, one = await get_json(f"{base}/api/callbacks/{ids['north']}", token)
            assert one["site"] == "north" and one["attempts"][0]["agent"] == "PJSIP/agent1"
            for site, promised in (("", 3), ("main", 2), ("north", 1)):  # each site's own
                _, report = await get_json(f"{base}/api/standards?period=day&site={site}",
                                           token)
                figures = {f["key"]: f["value"] for f in report["figures"]}
                assert figures["callbacks_promised"] == promised, (site, figures)

            await north.replay_trace(trace_bytes("wait_offer"), rebase_to=time.time())
            await north.wait_action("Setvar", count=5, timeout=10)
            for _ in range(100):
                found = await svc.callbacks.repo.with_status(Status.PENDING, Status.DIALLING)
                keyed = [c for c in found if c.source is Source.QUEUE_KEYPRESS]
                if keyed:
                    break
                await asyncio.sleep(0.1)
            assert [c.site for c in keyed] == ["north"], found
            assert keyed[0].source_linkedid and keyed[0].source_linkedid.startswith("north:")
            told = {m.get("Variable") for m in _sent(north, "Setvar")}
            assert {"WAIT_ESTIMATE", "CALLBACK_ID"} <= told
            assert _sent(main, "Setvar") == []  # nothing of north's went to the main PBX
            _, health = await get_json(f"{base}/healthz")
            # north's board: its agent1 and the capture's agent2 and agent3
            assert [(p["pbx"], p["agents"]) for p in health["pbxs"]] == [("main", 1),
                                                                        ("north", 3)]
    finally:
        for server, _ in servers:
            await server.stop()


async def _post(base: str, token: str, body: dict[str, Any]) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(headers=headers) as http, http.post(
            f"{base}/api/callbacks", json=body) as resp:
        return resp.status, await resp.json()


async def _promise(base: str, token: str, site: str | None) -> int:
    body = {"phone": "07700900123", "reason": "bins", **({"site": site} if site else {})}
    status, made = await _post(base, token, body)
    assert status == 201, made
    assert made["site"] == (None if site in (None, "main") else site)
    return int(made["id"])
