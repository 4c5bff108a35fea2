"""The access table (web/auth.py ACCESS) against the real router: every route, each role
and no token, answered as the table says; and the table names exactly the routes there are."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest

from callcentre.app import Service
from callcentre.config import Config
from callcentre.web.auth import ACCESS, PUBLIC, ROLES, create_token
from tests.adapters.test_service_end_to_end import free_port
from tests.support import policy_file

SAMPLE = {"{id}": "1", "{ref}": "HOU/1"}


def routes(svc: Service) -> set[tuple[str, str]]:
    found = set()
    for route in svc.web_app().router.routes():
        resource = route.resource
        if resource is None or route.method in ("HEAD", "*"):
            continue
        found.add((route.method, resource.canonical))
    return found


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[Service, dict[str, str]]]:
    cfg = Config(ami_port=free_port(), db=str(tmp_path / "cc.sqlite3"), http_port=free_port(),
                 policy_file=policy_file(tmp_path), ami_reconnect_max=0.5, http_open_routes=())
    async with Service(cfg).running() as svc:
        now = svc.clock.now()
        await create_token(svc.tokens, "agent", "spare", now)  # token 1: revoked by the walk
        tokens = {role: await create_token(svc.tokens, role, f"a {role}", now,
                                           interface=f"PJSIP/{role}") for role in ROLES}
        yield svc, tokens


def test_the_table_names_every_route_and_no_other(tmp_path: Path) -> None:
    cfg = Config(db=str(tmp_path / "cc.sqlite3"), policy_file=policy_file(tmp_path))
    assert routes(Service(cfg)) == set(ACCESS)


async def status_of(http: aiohttp.ClientSession, base: str, method: str, route: str,
                    token: str | None) -> int:
    url = base + "".join(SAMPLE.get(part, part) for part in _split(route))
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body = {} if method in ("POST", "PATCH") else None
    async with http.request(method, url, headers=headers, json=body, allow_redirects=False,
                            timeout=aiohttp.ClientTimeout(total=10)) as resp:
        # a stream's status comes with its head; it is not read further. A 401 or 403 is
        # the access table's only with its errors (signing in refuses a form of its own)
        if resp.status not in (401, 403):
            return resp.status
        error = (await resp.json())["error"] if resp.content_type == "application/json" else ""
        return resp.status if error in ("unauthorised", "invalid_token", "forbidden") else 0


def _split(route: str) -> list[str]:
    parts, rest = [], route
    while "{" in rest:
        head, _, tail = rest.partition("{")
        name, _, rest = tail.partition("}")
        parts += [head, "{" + name + "}"]
    return [*parts, rest]


async def test_every_route_answers_each_role_and_none_as_the_table_says(
        served: tuple[Service, dict[str, str]]) -> None:
    svc, tokens = served
    base = f"http://127.0.0.1:{svc.config.http_port}"
    wrong = []
    async with aiohttp.ClientSession() as http:
        for (method, route), rule in sorted(ACCESS.items()):
            for who in (None, *ROLES):
                got = await status_of(http, base, method, route, tokens.get(who or ""))
                if rule.role == PUBLIC:
                    expected = "let in"
                elif who is None:
                    expected = "401"
                else:
                    expected = "let in" if ROLES.index(who) >= ROLES.index(rule.role) else "403"
                seen = str(got) if got in (401, 403) else "let in"
                if seen != expected:
                    wrong.append(f"{method} {route} as {who or 'nobody'}: {got}, not {expected}")
    assert wrong == []


async def test_per_queue_figures_need_a_manager(served: tuple[Service, dict[str, str]]) -> None:
    svc, tokens = served
    base = f"http://127.0.0.1:{svc.config.http_port}"
    async with aiohttp.ClientSession() as http:
        assert await status_of(http, base, "GET", "/api/standards", None) == 200
        url = "/api/standards.csv?queue=council"
        for who, status in ((None, 401), ("agent", 403), ("manager", 200)):
            headers = {"Authorization": f"Bearer {tokens[who]}"} if who else {}
            async with http.get(base + url, headers=headers) as resp:
                assert resp.status == status, who


async def test_revoked_and_expired_tokens_are_refused(
        served: tuple[Service, dict[str, str]]) -> None:
    svc, tokens = served
    base = f"http://127.0.0.1:{svc.config.http_port}"
    admin = {"Authorization": f"Bearer {tokens['admin']}"}
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{base}/api/tokens", headers=admin, json={
                "name": "Cat", "role": "agent", "interface": "PJSIP/cat", "days": 1}) as resp:
            assert resp.status == 201
            made = await resp.json()
        cat = {"Authorization": f"Bearer {made['token']}"}
        async with http.get(f"{base}/api/me", headers=cat) as resp:
            assert (await resp.json())["interface"] == "PJSIP/cat"
        async with http.get(f"{base}/api/tokens", headers=admin) as resp:
            listed = await resp.json()
            assert made["token"] not in str(listed)  # never shown again
            assert {"Cat", "a admin"} <= {t["name"] for t in listed["items"]}
        async with http.post(f"{base}/api/tokens/{made['about']['id']}/revoke", headers=admin,
                             json={}) as resp:
            assert (await resp.json())["state"] == "revoked"
        async with http.get(f"{base}/api/me", headers=cat) as resp:
            assert resp.status == 401 and "revoked" in (await resp.json())["message"]
        old = await create_token(svc.tokens, "agent", "Dan", svc.clock.now() - timedelta(days=2),
                                 days=1)
        async with http.get(f"{base}/api/me", headers={"Authorization": f"Bearer {old}"}) as r:
            body = await r.json()
            assert r.status == 401 and body["error"] == "invalid_token"
            assert "expired" in body["message"]


async def test_admins_add_people_who_then_may_sign_in(
        served: tuple[Service, dict[str, str]]) -> None:
    svc, tokens = served
    base = f"http://127.0.0.1:{svc.config.http_port}"
    admin = {"Authorization": f"Bearer {tokens['admin']}"}
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{base}/api/people", headers=admin, json={
                "name": "dee@council.example", "role": "manager"}) as resp:
            assert resp.status == 201
        async with http.post(f"{base}/api/people", headers=admin, json={
                "name": "dee@council.example", "role": "agent"}) as resp:
            assert resp.status == 409
        async with http.post(f"{base}/api/people", headers=admin, json={
                "name": "Eve", "role": "boss"}) as resp:
            assert resp.status == 422 and (await resp.json())["details"]["field"] == "role"
        async with http.get(f"{base}/api/people", headers=admin) as resp:
            assert {"name": "dee@council.example", "role": "manager",
                    "interface": None} in (await resp.json())["items"]
    assert await svc.tokens.person("dee@council.example") is not None


def test_what_the_table_says_is_what_councils_were_promised() -> None:
    """Stated here on its own, not read from the table: open are only the health check, the
    published standards, the API's description and signing in;
    tokens are an admin's; extending a promise and per-queue figures a manager's."""
    public = {route for route, rule in ACCESS.items() if rule.role == PUBLIC}
    assert public == {("GET", "/healthz"), ("GET", "/public/standards"),
                      ("GET", "/api/standards"), ("GET", "/api/standards.csv"),
                      ("GET", "/api/openapi.json"), ("GET", "/signin"), ("POST", "/signin"),
                      ("GET", "/signin/oidc"), ("GET", "/signin/oidc/callback")}
    assert {r for r, rule in ACCESS.items() if rule.role == "admin"} == {
        ("GET", "/api/tokens"), ("POST", "/api/tokens"), ("POST", "/api/tokens/{id}/revoke"),
        ("GET", "/api/people"), ("POST", "/api/people"),
        ("GET", "/api/audit")}
    for route in (("POST", "/api/callbacks/{id}/reschedule"), ("GET", "/standards"),
                  ("GET", "/wallboard"), ("GET", "/api/wallboard"), ("GET", "/metrics")):
        assert ACCESS[route].role == "manager", route
    assert {ACCESS[("GET", p)].by_queue for p in ("/api/standards", "/api/standards.csv")} == {
        "manager"}


async def test_who_read_and_changed_what_is_in_the_audit_trail(
        served: tuple[Service, dict[str, str]]) -> None:
    svc, tokens = served
    base = f"http://127.0.0.1:{svc.config.http_port}"
    as_ = {who: {"Authorization": f"Bearer {t}"} for who, t in tokens.items()}
    since = svc.clock.now() - timedelta(minutes=1)
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{base}/api/callbacks", headers=as_["agent"], json={
                "phone": "07700 900123", "reason": "Boiler"}) as resp:
            cb = await resp.json()
        async with http.get(f"{base}/api/callbacks/{cb['id']}", headers=as_["manager"]):
            pass
        async with http.get(f"{base}/api/tokens", headers=as_["agent"]):
            pass  # refused, and recorded as such
        async with http.get(f"{base}/metrics", headers=as_["manager"]):
            pass  # scrapes are not recorded
        until = (svc.clock.now() + timedelta(minutes=1)).isoformat()
        query = {"since": since.isoformat(), "until": until}
        async with http.get(f"{base}/api/audit", params=query, headers=as_["admin"]) as resp:
            items = (await resp.json())["items"]
        async with http.get(f"{base}/api/audit", params={**query, "format": "csv"},
                            headers=as_["admin"]) as resp:
            csv_text = await resp.text()
        async with http.get(f"{base}/api/audit", params=query, headers=as_["manager"]) as resp:
            assert resp.status == 403
    seen = [(e["person"], e["action"], e["method"], e["route"], e["target"], e["status"])
            for e in items]
    assert seen == [
        ("a agent", "change", "POST", "/api/callbacks", "", 201),
        ("a manager", "read", "GET", "/api/callbacks/{id}", str(cb["id"]), 200),
        ("a agent", "refused", "GET", "/api/tokens", "", 403)]
    assert csv_text.splitlines()[0] == "at,person,role,action,method,route,target,status"
    lines = csv_text.splitlines()  # reading the trail is recorded like any read, so the
    assert len(lines) == 5 and ",a admin,admin,read,GET,/api/audit," in lines[4]  # JSON
    assert "07700" not in csv_text  # export before the CSV one is in it too
