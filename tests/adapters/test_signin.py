"""Signing in with a browser (web/signin.py): the form, the session cookie, CSRF, sign-out,
and a session that ends with its token."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from callcentre.app import Service
from callcentre.config import Config
from callcentre.web.auth import create_token
from tests.adapters.test_service_end_to_end import free_port
from tests.support import policy_file

HTML = {"Accept": "text/html"}


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[tuple[Service, str, str]]:
    cfg = Config(ami_port=free_port(), db=str(tmp_path / "cc.sqlite3"), http_port=free_port(),
                 policy_file=policy_file(tmp_path), ami_reconnect_max=0.5)
    async with Service(cfg).running() as svc:
        token = await create_token(svc.tokens, "agent", "Ann", svc.clock.now(),
                                   interface="PJSIP/ann")
        yield svc, f"http://127.0.0.1:{cfg.http_port}", token


async def sign_in(http: aiohttp.ClientSession, base: str, token: str,
                  next_path: str = "/agent") -> aiohttp.ClientResponse:
    form = await (await http.get(f"{base}/signin", params={"next": next_path})).text()
    match = re.search(r'name="csrf" value="([^"]+)"', form)
    assert match is not None
    return await http.post(f"{base}/signin", allow_redirects=False, data={
        "token": token, "csrf": match[1], "next": next_path})


async def test_a_page_sends_a_browser_to_sign_in_and_back(
        site: tuple[Service, str, str]) -> None:
    _, base, token = site
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        resp = await http.get(f"{base}/agent", headers=HTML, allow_redirects=False)
        assert resp.status == 303 and resp.headers["Location"] == "/signin?next=/agent"
        assert (await http.get(f"{base}/agent")).status == 401  # not a browser: no redirect
        wrong = await sign_in(http, base, "cc_not-a-token")
        assert wrong.status == 401 and "That token is unknown" in await wrong.text()
        resp = await sign_in(http, base, token)
        assert resp.status == 303 and resp.headers["Location"] == "/agent"
        cookie = resp.headers["Set-Cookie"]
        assert "cc_session=" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
        page = await http.get(f"{base}/agent", headers=HTML)
        assert page.status == 200 and "/api/callbacks/stream" in await page.text()
        me = await (await http.get(f"{base}/api/me")).json()
        assert me["name"] == "Ann" and me["csrf"]
        assert (await http.get(f"{base}/standards", headers=HTML)).status == 403  # managers'


async def test_changes_need_the_sessions_csrf_secret(site: tuple[Service, str, str]) -> None:
    _, base, token = site
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        await sign_in(http, base, token)
        csrf = (await (await http.get(f"{base}/api/me")).json())["csrf"]
        promise = {"phone": "07700 900123", "reason": "Boiler"}
        resp = await http.post(f"{base}/api/callbacks", json=promise)
        assert resp.status == 403 and (await resp.json())["error"] == "csrf"
        resp = await http.post(f"{base}/api/callbacks", json=promise,
                               headers={"X-CSRF-Token": "guess"})
        assert resp.status == 403
        resp = await http.post(f"{base}/api/callbacks", json=promise,
                               headers={"X-CSRF-Token": csrf})
        assert resp.status == 201 and (await resp.json())["promised_by"] == "Ann"


async def test_the_sign_in_form_is_refused_without_its_own_secret(
        site: tuple[Service, str, str]) -> None:
    _, base, token = site
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        resp = await http.post(f"{base}/signin", allow_redirects=False,
                               data={"token": token, "csrf": "x", "next": "/agent"})
        assert resp.status == 403 and "cc_session" not in resp.headers.get("Set-Cookie", "")
        resp = await sign_in(http, base, token, next_path="//elsewhere.example/")
        assert resp.headers["Location"] == "/"  # never sent to another site


async def test_sign_out_and_revoking_the_token_end_the_session(
        site: tuple[Service, str, str]) -> None:
    svc, base, token = site
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        await sign_in(http, base, token)
        csrf = (await (await http.get(f"{base}/api/me")).json())["csrf"]
        resp = await http.post(f"{base}/signout", data={"csrf": "wrong"}, allow_redirects=False)
        assert resp.status == 403
        stolen = http.cookie_jar.filter_cookies(aiohttp.client.URL(base))["cc_session"].value
        resp = await http.post(f"{base}/signout", data={"csrf": csrf}, allow_redirects=False)
        assert resp.status == 303 and resp.headers["Location"] == "/signin"
        assert (await http.get(f"{base}/api/me")).status == 401
        http.cookie_jar.update_cookies({"cc_session": stolen})  # an old cookie, kept
        assert (await http.get(f"{base}/api/me")).status == 401  # ended for good
        await sign_in(http, base, token)
        assert (await http.get(f"{base}/api/me")).status == 200
        (made,) = await svc.tokens.all()
        await svc.tokens.revoke(made.id or 0, svc.clock.now())
        assert (await http.get(f"{base}/api/me")).status == 401
