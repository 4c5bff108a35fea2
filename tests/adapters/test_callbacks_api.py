"""The callbacks API, agent page and prompt stream through a real aiohttp server, on fakes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from callcentre.domain.cases import new_case
from callcentre.phones import normaliser
from callcentre.ports import CallbackQuery
from callcentre.services.callbacks import CallbackService
from callcentre.testing import (
    FakeClock,
    InMemoryCallbackRepository,
    InMemoryCallRepository,
    InMemoryCaseRepository,
    InMemoryTokenRepository,
    default_policy,
    utc,
)
from callcentre.web import callbacks
from callcentre.web.auth import (
    CLOCK,
    REFUSED,
    TOKENS,
    RefusedTokens,
    access_middleware,
    create_token,
)
from callcentre.web.callbacks_view import callback_json
from callcentre.web.errors import error_middleware

TZ = ZoneInfo("Europe/London")
T0 = utc(2026, 11, 23, 10)


@dataclass
class Api:
    client: TestClient[Any, Any]
    headers: dict[str, str]
    feed: callbacks.ChangeFeed
    manager: dict[str, str]

    async def post(self, path: str, body: Any) -> tuple[int, Any]:
        resp = await self.client.post(path, json=body, headers=self.headers)
        return resp.status, await resp.json()


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    cases, tokens = InMemoryCaseRepository(), InMemoryTokenRepository()
    await cases.add(new_case("HOU-1", "Repairs", None, T0))
    service = CallbackService(InMemoryCallbackRepository(), cases, InMemoryCallRepository(),
                              default_policy(), FakeClock(T0), normaliser("GB"))
    feed = callbacks.ChangeFeed()
    service.on_change(feed.bump)

    async def board(agent: str | None) -> dict[str, Any]:
        items = (await service.find(CallbackQuery())).items
        return {"due": [callback_json(c, TZ) for c in items], "agent": agent}

    app = web.Application(middlewares=[error_middleware, access_middleware])
    app[TOKENS], app[REFUSED], app[CLOCK] = tokens, RefusedTokens(delay=0), FakeClock(T0).now
    callbacks.setup(app, callbacks.CallbackWebDeps(service, board, feed, TZ, heartbeat=0.2))
    token = await create_token(tokens, "agent", "desk", T0, interface="PJSIP/desk")
    boss = await create_token(tokens, "manager", "boss", T0)
    live = asyncio.create_task(feed.run(board))  # app.py supervises it as "live-feed"
    async with TestClient(TestServer(app)) as client:
        yield Api(client, {"Authorization": f"Bearer {token}"}, feed,
                  {"Authorization": f"Bearer {boss}"})
    live.cancel()


PROMISE = {"case_ref": "HOU-1", "phone": "07700 900123", "reason": "Boiler repair date",
           "promised_by": "Sam", "owner": "Agent 1"}


async def test_create_get_and_list(api: Api) -> None:
    status, cb = await api.post("/api/callbacks", PROMISE)
    assert status == 201
    for key in ("id", "case_ref", "phone", "reason", "source", "promised_by", "owner",
                "not_before", "due_by", "status", "result", "attempts", "history"):
        assert key in cb
    assert (cb["phone"], cb["source"], cb["status"]) == ("+447700900123", "agent", "pending")
    assert cb["due_by"] == "2026-11-23T14:00:00+00:00" and cb["history"][0]["action"] == "created"
    resp = await api.client.get(f"/api/callbacks/{cb['id']}", headers=api.headers)
    assert (await resp.json())["calls"] == []
    resp = await api.client.get("/api/callbacks?owner=Agent 1&status=pending", headers=api.headers)
    assert [c["id"] for c in (await resp.json())["items"]] == [cb["id"]]
    resp = await api.client.get("/api/callbacks?case=HOU-2", headers=api.headers)
    assert (await resp.json())["items"] == []


async def test_list_pages_by_deadline_in_either_order(api: Api) -> None:
    made = []
    for hour in (15, 13, 14):  # promised in this order, due in another
        status, cb = await api.post("/api/callbacks", {**PROMISE, "due_by": f"2026-11-23T{hour}:00"})
        assert status == 201, cb
        made.append(cb["id"])
    latest, soonest = [made[0], made[2], made[1]], [made[1], made[2], made[0]]
    for order, expected in (("", latest), ("&order=latest", latest), ("&order=soonest", soonest)):
        seen, url = [], f"/api/callbacks?limit=2{order}"
        while url:
            resp = await api.client.get(url, headers=api.headers)
            assert resp.status == 200, await resp.text()
            body = await resp.json()
            seen += [c["id"] for c in body["items"]]
            url = body["next"]
        assert seen == expected, order


@pytest.mark.parametrize("query", ["order=newest", "cursor=12", "cursor=bm9wZQ"])
async def test_list_refuses_an_unknown_order_or_a_cursor_it_did_not_give(api: Api,
                                                                         query: str) -> None:
    resp = await api.client.get(f"/api/callbacks?{query}", headers=api.headers)
    assert resp.status == 422, await resp.text()
    assert (await resp.json())["details"]["field"] == query.split("=", maxsplit=1)[0]


async def test_case_ref_is_optional(api: Api) -> None:
    """README: a callback may be promised without a case (case_ref is optional)."""
    status, cb = await api.post("/api/callbacks",
                                {k: v for k, v in PROMISE.items() if k != "case_ref"})
    assert status == 201, cb
    assert cb["case_ref"] is None and cb["status"] == "pending"


@pytest.mark.parametrize(("change", "field", "message"), [
    ({"case_ref": "NOPE"}, None, "no case"),
    ({"phone": "12"}, "phone", "not a phone number"),
    ({"due_by": "2026-11-23T09:00:00+00:00"}, "due_by", "in the past"),
    ({"due_by": "2027-03-01T09:00:00+00:00"}, "due_by", "beyond policy"),
    ({"reason": " "}, "reason", "must not be empty"),
    ({"language": "xx"}, "language", "must be one of: en"),  # only the council's languages
    ({"language": 7}, "language", "must be a string"),
    # before the first moment a datetime holds in UTC: stored once, it broke every reader
    ({"not_before": "0001-01-01T00:00:00+14:00"}, "not_before", "between 1970 and 8999"),
    ({"due_by": "9999-12-31T23:59:59-14:00"}, "due_by", "between 1970 and 8999"),
])
async def test_validation_errors_say_what_is_wrong(api: Api, change: dict[str, str],
                                                   field: str | None, message: str) -> None:
    status, body = await api.post("/api/callbacks", {**PROMISE, **change})
    assert status in (404, 422) and message in body["message"]
    assert body["details"].get("field") == field
    resp = await api.client.get("/api/callbacks", headers=api.headers)
    assert resp.status == 200 and (await resp.json())["items"] == []  # nothing stored


async def test_reschedule_cancel_and_illegal_changes(api: Api) -> None:
    _, cb = await api.post("/api/callbacks", PROMISE)
    path = f"/api/callbacks/{cb['id']}"
    later = {"due_by": "2026-11-24T12:00:00Z", "reason": "surveyor", "told": "sms", "by": "Sam"}
    status, body = await api.post(f"{path}/reschedule", later)
    assert status == 403 and "manager" in body["message"]  # extending a promise: managers
    resp = await api.client.post(f"{path}/reschedule", json=later, headers=api.manager)
    body = await resp.json()
    assert resp.status == 200 and body["history"][-1]["told"] == "sms" and body["extensions"] == 1
    assert body["history"][-1]["by"] == "boss"  # the token's person, not the body's "Sam"
    resp = await api.client.post(f"{path}/reschedule", json={**later, "told": "pigeon"},
                                 headers=api.manager)
    assert resp.status == 422 and (await resp.json())["details"]["field"] == "told"
    status, body = await api.post(f"{path}/outcome", {"outcome": "reached", "by": "Agent 1"})
    assert status == 200 and body["result"] == "kept"
    status, body = await api.post(f"{path}/cancel", {"reason": "dup", "by": "Sam"})
    assert status == 409 and "kept" in body["message"]
    assert (await api.client.get("/api/callbacks/999", headers=api.headers)).status == 404


async def test_snooze_and_accept(api: Api) -> None:
    _, cb = await api.post("/api/callbacks", PROMISE)
    status, body = await api.post(f"/api/callbacks/{cb['id']}/snooze",
                                  {"until": "2026-11-23T10:30:00Z", "by": "Agent 1"})
    assert status == 200 and body["next_attempt_at"] == "2026-11-23T10:30:00+00:00"
    status, body = await api.post(f"/api/callbacks/{cb['id']}/accept", {"agent": "Agent 2"})
    assert status == 200 and body["owner"] == "PJSIP/desk"  # the token's agent, not the body's
    resp = await api.client.post(f"/api/callbacks/{cb['id']}/accept", json={},
                                 headers=api.manager)
    assert resp.status == 422  # a manager with no interface takes no calls


async def test_needs_a_token(api: Api) -> None:
    assert (await api.client.get("/api/callbacks")).status == 401
    assert (await api.client.get("/api/callbacks/stream")).status == 401


async def test_agent_page_and_prompt_stream(api: Api) -> None:
    assert (await api.client.get("/agent")).status == 401
    page = await api.client.get("/agent", headers=api.headers)
    assert page.status == 200 and "/api/callbacks/stream" in await page.text()
    resp = await api.client.get("/api/callbacks/stream?agent=Agent 9", headers=api.headers)
    assert resp.headers["Content-Type"].startswith("text/event-stream")

    async def next_board() -> dict[str, Any]:
        while True:
            line = (await resp.content.readline()).decode()
            if line.startswith("data: "):
                return json.loads(line[6:])  # type: ignore[no-any-return]

    first = await asyncio.wait_for(next_board(), 5)
    assert first == {"due": [], "agent": "PJSIP/desk"}  # an agent's own board, whatever is asked
    await api.post("/api/callbacks", PROMISE)
    second = await asyncio.wait_for(next_board(), 5)
    assert [c["reason"] for c in second["due"]] == ["Boiler repair date"]
    api.feed.close()
    resp.close()


async def test_an_agent_corrects_a_result_with_who_and_why(api: Api) -> None:
    _, cb = await api.post("/api/callbacks", PROMISE)
    path = f"/api/callbacks/{cb['id']}"
    status, body = await api.post(f"{path}/correct", {"result": "missed", "reason": "voicemail"})
    assert status == 409, body  # still pending: nothing to correct yet
    await api.post(f"{path}/outcome", {"outcome": "reached", "by": "Sam"})
    status, body = await api.post(f"{path}/correct", {"result": "missed", "reason": " "})
    assert status == 422 and body["details"]["field"] == "reason", body
    status, body = await api.post(f"{path}/correct", {"result": "cancelled", "reason": "x"})
    assert status == 422 and body["details"]["field"] == "result", body
    status, body = await api.post(f"{path}/correct",
                                  {"result": "missed", "reason": "it was their voicemail",
                                   "by": "someone else"})
    assert status == 200 and body["result"] == "missed", body
    entry = body["history"][-1]
    assert (entry["action"], entry["by"], entry["old"], entry["new"], entry["reason"]) == (
        "corrected", "desk (agent)", "kept", "missed", "it was their voicemail")
    resp = await api.client.post(f"{path}/correct", json={"result": "kept", "reason": "x"})
    assert resp.status == 401


async def test_the_agent_page_can_correct_a_result(api: Api) -> None:
    page = await (await api.client.get("/agent", headers=api.headers)).text()
    assert 'id="correct"' in page and '"correct"' in page and "Recently closed" in page


async def test_the_promise_is_signed_by_the_token_never_the_body(api: Api) -> None:
    status, cb = await api.post("/api/callbacks", {**PROMISE, "promised_by": "Mallory"})
    assert status == 201 and cb["promised_by"] == "desk"
    status, body = await api.post(f"/api/callbacks/{cb['id']}/outcome",
                                  {"outcome": "no_answer", "by": "Mallory"})
    assert status == 200 and "Mallory" not in json.dumps(body)
