"""The HTTP API through a real aiohttp server, on the in-memory repositories."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient, TestServer

from callcentre.domain.calls import Call, CallTracker, CaseLink, EndSource, Outcome
from callcentre.domain.hours import always_open
from callcentre.domain.paging import Keyset
from callcentre.domain.queue_log import parse_line
from callcentre.phones import normaliser
from callcentre.ports import LedgerPosition
from callcentre.services.calllog import CallLogService
from callcentre.services.cases import CaseService
from callcentre.services.wrapup import WrapupService
from callcentre.testing import (
    FakeClock,
    InMemoryCallRepository,
    InMemoryCaseRepository,
    InMemoryLedgerRepository,
    InMemoryTokenRepository,
    utc,
)
from callcentre.web import api, pages
from callcentre.web.app import make_app
from callcentre.web.auth import REFUSED, create_token

TZ = ZoneInfo("Europe/London")
T0 = utc(2026, 11, 23, 9, 0)
CODES = ("resolved", "not-resolved-callback")


@dataclass
class Api:
    client: TestClient[Any, Any]
    calls: InMemoryCallRepository
    agent: dict[str, str]
    health: dict[str, Any]


@pytest.fixture
async def api_client() -> AsyncIterator[Api]:
    calls, cases, tokens = InMemoryCallRepository(), InMemoryCaseRepository(), InMemoryTokenRepository()
    clock = FakeClock(T0)
    calllog = CallLogService(CallTracker(always_open(TZ).is_open), calls, cases, timedelta(days=7))
    case_service = CaseService(cases, calls, calllog, clock, normaliser("GB"))
    health: dict[str, Any] = {"status": "degraded", "ami": {"state": "disconnected"}, "db": {"ok": True}}

    async def probe() -> dict[str, Any]:
        return health

    ledger = InMemoryLedgerRepository(calls)
    wrapup = WrapupService(calls, calllog, CODES)
    app = make_app(api.ApiDeps(calls, case_service, wrapup, TZ, ledger),
                   pages.PageDeps(probe, calls, TZ), tokens, clock=clock.now)
    token = await create_token(tokens, "agent", "test agent", T0)
    async with TestClient(TestServer(app)) as client:
        yield Api(client, calls, {"Authorization": f"Bearer {token}"}, health)


def answered(i: int) -> Call:
    at = T0 + timedelta(minutes=i)
    return Call(linkedid=f"17953.{i}", channel=f"PJSIP/resident-{i}", arrived_at=at,
                caller="+447700900123", queue="council", queued_at=at,
                answered_at=at + timedelta(seconds=12.3456), ended_at=at + timedelta(minutes=3),
                agent_interface="PJSIP/agent1", agent_name="Agent One",
                outcome=Outcome.ANSWERED, end_source=EndSource.HANGUP)


async def test_healthz_needs_no_token_and_reports_ami_state(api_client: Api) -> None:
    resp = await api_client.client.get("/healthz")
    assert resp.status == 200
    assert (await resp.json())["ami"]["state"] == "disconnected"
    api_client.health["status"] = "down"
    assert (await api_client.client.get("/healthz")).status == 503


@pytest.mark.parametrize(("headers", "error"), [
    ({}, "unauthorised"), ({"Authorization": "Bearer nope"}, "invalid_token"),
    ({"Authorization": "Basic x"}, "unauthorised")])
async def test_api_needs_a_valid_token(api_client: Api, headers: dict[str, str],
                                       error: str) -> None:
    resp = await api_client.client.get("/api/calls", headers=headers)
    assert resp.status == 401
    assert (await resp.json())["error"] == error
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")


async def test_calls_list_shape_times_and_pagination(api_client: Api) -> None:
    await api_client.calls.save([answered(i) for i in range(5)])
    resp = await api_client.client.get("/api/calls?limit=2&outcome=answered", headers=api_client.agent)
    body = await resp.json()
    assert resp.status == 200
    first = body["items"][0]
    assert first["linkedid"] == "17953.4"
    assert first["arrived_at"] == "2026-11-23T09:04:00+00:00"
    assert first["wait_seconds"] == 12.346 and first["talk_seconds"] is not None
    assert first["agent"] == {"interface": "PJSIP/agent1", "name": "Agent One"}
    for key in ("id", "caller", "dialled", "queue", "queued_at", "answered_at", "ended_at",
                "outcome", "case_ref", "repeat_of"):
        assert key in first
    after = Keyset.of(answered(3).arrived_at, 4).token()  # the page's last call: 17953.3, id 4
    assert body["next"] == f"/api/calls?limit=2&outcome=answered&cursor={after}"
    seen = [i["linkedid"] for i in body["items"]]
    while body["next"]:
        body = await (await api_client.client.get(body["next"], headers=api_client.agent)).json()
        seen += [i["linkedid"] for i in body["items"]]
    assert seen == [f"17953.{i}" for i in range(4, -1, -1)]


@pytest.mark.parametrize(("query", "field"), [
    ("since=yesterday", "since"), ("limit=0", "limit"), ("limit=x", "limit"),
    ("outcome=lost", "outcome"), ("cursor=-1", "cursor"),
    # an id, as cursors were before #16; not base64; base64 of something else; a token
    # changed by hand; one too long to be ours
    ("cursor=4", "cursor"), ("cursor=%25%25%25", "cursor"), ("cursor=aGVsbG8", "cursor"),
    (f"cursor={Keyset(1.5e9, 7).token()[:-1]}A", "cursor"), (f"cursor={'A' * 200}", "cursor"),
])
async def test_bad_filters_say_what_is_wrong(api_client: Api, query: str, field: str) -> None:
    resp = await api_client.client.get(f"/api/calls?{query}", headers=api_client.agent)
    body = await resp.json()
    assert resp.status == 422
    assert body["error"] == "invalid_input" and body["details"]["field"] == field
    assert field in body["message"]


async def test_case_lifecycle_and_linking_a_call(api_client: Api) -> None:
    c, h = api_client.client, api_client.agent
    (call,) = await api_client.calls.save([answered(0)])
    resp = await c.post("/api/cases", json={"ref": "BIN-42", "subject": "Missed bin",
                                            "phone": "07700 900123"}, headers=h)
    assert resp.status == 201 and resp.headers["Location"] == "/api/cases/BIN-42"
    assert (await resp.json())["phone"] == "+447700900123"
    assert (await c.post("/api/cases", json={"ref": "BIN-42", "subject": "again"}, headers=h)).status == 409
    resp = await c.patch(f"/api/calls/{call.id}", json={"case_ref": "BIN-42"}, headers=h)
    assert resp.status == 200
    assert (await resp.json())["case_link"] == CaseLink.AGENT.value
    case = await (await c.get("/api/cases/BIN-42", headers=h)).json()
    assert [x["id"] for x in case["calls"]] == [call.id]
    listed = await (await c.get("/api/cases?status=open", headers=h)).json()
    assert [x["ref"] for x in listed["items"]] == ["BIN-42"] and listed["next"] is None
    closed = await c.patch("/api/cases/BIN-42", json={"status": "closed"}, headers=h)
    assert (await closed.json())["status"] == "closed"


@pytest.mark.parametrize(("method", "path", "body", "status", "error"), [
    ("post", "/api/cases", {"ref": "", "subject": "x"}, 422, "invalid_input"),
    ("post", "/api/cases", {"ref": "A-1", "subject": "  "}, 422, "invalid_input"),
    ("post", "/api/cases", {"ref": "A-1", "subject": "x", "phone": "call me"}, 422, "invalid_input"),
    ("post", "/api/cases", {"ref": 7, "subject": "x"}, 422, "invalid_input"),
    ("post", "/api/cases", ["not", "an", "object"], 422, "invalid_input"),
    ("patch", "/api/calls/1", {"case_ref": "NOPE"}, 404, "not_found"),
    ("patch", "/api/calls/999", {"case_ref": None}, 404, "not_found"),
    ("patch", "/api/calls/abc", {"case_ref": None}, 404, "not_found"),  # as /api/callbacks/xyz
    ("patch", "/api/calls/1", {"case_ref": None, "by": "x"}, 422, "invalid_input"),
    ("get", "/api/calls?colour=red", None, 422, "invalid_input"),
    ("patch", "/api/calls/1", {}, 422, "invalid_input"),
    ("get", "/api/cases/NOPE", None, 404, "not_found"),
    ("get", "/api/calls/42", None, 404, "not_found"),
    ("get", "/api/nothing-here", None, 404, "not_found"),
])
async def test_invalid_requests_get_clear_errors(api_client: Api, method: str, path: str,
                                                 body: Any, status: int, error: str) -> None:
    await api_client.calls.save([answered(0)])
    resp = await getattr(api_client.client, method)(path, json=body, headers=api_client.agent)
    assert resp.status == status
    payload = await resp.json()
    assert payload["error"] == error and payload["message"]


async def test_malformed_json_and_oversized_bodies(api_client: Api) -> None:
    c, h = api_client.client, {**api_client.agent, "Content-Type": "application/json"}
    resp = await c.post("/api/cases", data=b"{not json", headers=h)
    assert resp.status == 400 and (await resp.json())["error"] == "bad_json"
    resp = await c.post("/api/cases", data=b"x" * 200_000, headers=h)
    assert resp.status == 413


async def test_home_page_masks_numbers(api_client: Api) -> None:
    await api_client.calls.save([replace(answered(0), case_ref="BIN-42")])
    assert (await api_client.client.get("/")).status == 401  # the latest calls: agents only
    text = await (await api_client.client.get("/", headers=api_client.agent)).text()
    assert "+447700900123" not in text
    assert "+447*******23" in text and "BIN-42" in text and "answered" in text


async def test_case_status_must_be_given(api_client: Api) -> None:
    c, h = api_client.client, api_client.agent
    await c.post("/api/cases", json={"ref": "R-1", "subject": "x"}, headers=h)
    resp = await c.patch("/api/cases/R-1", json={"status": ""}, headers=h)
    body = await resp.json()
    assert resp.status == 422 and body["details"]["field"] == "status"


async def test_unknown_tokens_are_counted_logged_once_and_slowed(
        api_client: Api, caplog: pytest.LogCaptureFixture) -> None:
    refused = api_client.client.app[REFUSED]
    refused.delay = 0.2
    started = time.monotonic()
    for _ in range(3):
        resp = await api_client.client.get("/api/calls", headers={"Authorization": "Bearer x"})
        assert resp.status == 401
    assert time.monotonic() - started >= 3 * 0.2  # no thousands a second
    assert refused.count == 3
    said = [r.getMessage() for r in caplog.records if "refused a token or sign-in" in r.getMessage()]
    assert len(said) == 1 and "127.0.0.1" in said[0]
    assert (await api_client.client.get("/api/calls")).status == 401  # none sent: not counted
    assert refused.count == 3


async def test_a_token_that_is_not_utf8_is_refused_not_a_500(api_client: Api) -> None:
    """500 requests of this wrote 432 KB of tracebacks in 0.35 s."""
    server = api_client.client.server
    reader, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(b"GET /api/calls HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \xff\xfe\r\n"
                 b"Connection: close\r\n\r\n")
    await writer.drain()
    status_line = await reader.readline()
    writer.close()
    assert status_line.split()[1] == b"401", status_line


async def test_a_call_shows_its_visits_to_queues_as_queue_log_has_them(api_client: Api) -> None:
    (call,) = await api_client.calls.save([answered(1)])
    app_ledger = api_client.client.app[api.API].ledger  # type: ignore[union-attr]
    assert isinstance(app_ledger, InMemoryLedgerRepository)
    lines = [parse_line(f"{int(call.arrived_at.timestamp()) + d}|{call.linkedid}|{t}")
             for d, t in ((0, "first|NONE|ENTERQUEUE||07700900123|1"),
                          (9, "first|NONE|EXITWITHKEY|2|1|1|9"),
                          (10, "council|NONE|ENTERQUEUE||07700900123|1"),
                          (12, "council|Agent One|CONNECT|2|x.2|1"))]
    await app_ledger.append(lines, LedgerPosition("q", 1, 1, 9), T0)
    got = await api_client.client.get(f"/api/calls/{call.id}", headers=api_client.agent)
    body = await got.json()
    assert body["queue_log"] is None  # not settled yet
    assert [(s["queue"], s["exit"], s["wait_seconds"], s["key"]) for s in body["stints"]] == [
        ("first", "EXITWITHKEY", 9, "2"), ("council", "CONNECT", 2, None)]
    assert body["stints"][1]["agent"] == "Agent One"


async def test_a_case_ref_with_slashes_is_reached_at_its_location(api_client: Api) -> None:
    """Councils number cases like HOU/2026/17; its Location must lead back to it."""
    c, h = api_client.client, api_client.agent
    resp = await c.post("/api/cases", json={"ref": "HOU/2026/17", "subject": "Damp"}, headers=h)
    assert resp.status == 201
    location = resp.headers["Location"]
    assert (await (await c.get(location, headers=h)).json())["ref"] == "HOU/2026/17"
    patched = await c.patch(location, json={"status": "closed"}, headers=h)
    assert (await patched.json())["status"] == "closed"
    assert (await c.get("/api/cases/HOU%2F2026%2F17", headers=h)).status == 200


async def test_an_agent_sets_a_wrapup_code_from_the_configured_list(api_client: Api) -> None:
    (call,) = await api_client.calls.save([answered(1)])
    url = f"/api/calls/{call.id}/wrapup"
    resp = await api_client.client.put(url, json={"code": "resolved"}, headers=api_client.agent)
    assert resp.status == 200
    assert (await resp.json())["wrapup_code"] == "resolved"
    assert (await api_client.calls.get(call.id or 0)).wrapup_code == "resolved"
    resp = await api_client.client.put(url, json={"code": None}, headers=api_client.agent)
    assert (await resp.json())["wrapup_code"] is None


async def test_agents_are_told_the_configured_codes(api_client: Api) -> None:
    resp = await api_client.client.get("/api/wrapup-codes", headers=api_client.agent)
    assert (await resp.json()) == {"codes": list(CODES)}


async def test_an_unknown_wrapup_code_is_a_422_naming_the_allowed_ones(api_client: Api) -> None:
    (call,) = await api_client.calls.save([answered(1)])
    for body in ({"code": "made-up"}, {"code": 7}, {}):
        resp = await api_client.client.put(f"/api/calls/{call.id}/wrapup", json=body,
                                           headers=api_client.agent)
        assert resp.status == 422, body
        problem = await resp.json()
        assert problem["details"]["field"] == "code"
        assert "resolved, not-resolved-callback" in problem["message"]
    resp = await api_client.client.put("/api/calls/999/wrapup", json={"code": "resolved"},
                                       headers=api_client.agent)
    assert resp.status == 404


async def test_a_wrapup_code_survives_the_call_log_saving_the_call_later(api_client: Api) -> None:
    unfinished = replace(answered(1), outcome=None, ended_at=None, end_source=None)
    (call,) = await api_client.calls.save([unfinished])
    await api_client.client.put(f"/api/calls/{call.id}/wrapup", json={"code": "resolved"},
                                headers=api_client.agent)
    (saved,) = await api_client.calls.save([answered(1)])
    assert saved.wrapup_code == "resolved"
    assert saved.outcome is Outcome.ANSWERED
