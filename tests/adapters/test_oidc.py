"""Signing in with a council account (web/oidc.py) against a real OpenID Connect provider:
oidc-provider-mock (authlib's authorization server) started here, with registered clients
only (so the client secret is checked) and a nonce required. The browser is an aiohttp
session with a cookie jar that follows what a browser would."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest

from callcentre.app import Service
from callcentre.config import Config
from callcentre.domain.people import Person
from tests.adapters.test_service_end_to_end import free_port
from tests.support import policy_file

oidc_provider_mock = pytest.importorskip("oidc_provider_mock")
HTML = {"Accept": "text/html"}
# the provider (in a thread of this process) calls a method authlib plans to rename
pytestmark = pytest.mark.filterwarnings("ignore:get_jwt_config:DeprecationWarning")


@pytest.fixture(scope="module")
def provider() -> Iterator[str]:
    with oidc_provider_mock.run_server_in_thread(require_client_registration=True,
                                                 require_nonce=True) as server:
        yield f"http://localhost:{server.server_port}"


@pytest.fixture
async def site(tmp_path: Path, provider: str) -> AsyncIterator[tuple[Service, str]]:
    port = free_port()
    async with aiohttp.ClientSession() as http, http.post(f"{provider}/oauth2/clients", json={
            "redirect_uris": [f"http://127.0.0.1:{port}/signin/oidc/callback"]}) as resp:
        assert resp.status == 201
        client = await resp.json()
    cfg = Config(ami_port=free_port(), db=str(tmp_path / "cc.sqlite3"), http_port=port,
                 policy_file=policy_file(tmp_path), ami_reconnect_max=0.5,
                 oidc_issuer=provider, oidc_client_id=client["client_id"],
                 oidc_client_secret=client["client_secret"], oidc_label="Council Login")
    async with Service(cfg).running() as svc:
        await svc.tokens.add_person(Person("ann@council.example", "agent", "PJSIP/ann"),
                                    svc.clock.now())
        yield svc, f"http://127.0.0.1:{port}"


def browser() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def at_provider(http: aiohttp.ClientSession, base: str, next_path: str = "/agent") -> str:
    """Press "Sign in with ..." and arrive at the provider's page; return its URL."""
    form = await (await http.get(f"{base}/signin", params={"next": next_path})).text()
    assert "Sign in with Council Login" in form
    resp = await http.get(f"{base}/signin/oidc", params={"next": next_path},
                          allow_redirects=False)
    assert resp.status == 303
    return resp.headers["Location"]


async def authorise(http: aiohttp.ClientSession, url: str, sub: str) -> str:
    """The person signs in at the provider, which sends them back: the URL it sends to."""
    resp = await http.post(url, data={"sub": sub}, allow_redirects=False)
    assert resp.status == 302, await resp.text()
    return resp.headers["Location"]


async def test_a_person_an_admin_added_signs_in_with_their_council_account(
        site: tuple[Service, str]) -> None:
    svc, base = site
    async with browser() as http:
        url = await at_provider(http, base)
        asked = parse_qs(urlsplit(url).query)
        assert asked["code_challenge_method"] == ["S256"] and asked["nonce"][0]
        assert asked["redirect_uri"] == [f"{base}/signin/oidc/callback"]
        back = await authorise(http, url, "ann@council.example")
        resp = await http.get(back, allow_redirects=False)
        assert resp.status == 200 and "Welcome, ann@council.example" in await resp.text()
        assert 'content="0;url=/agent"' in await resp.text()
        cookie = resp.headers.getall("Set-Cookie")
        assert any("cc_session=" in c and "HttpOnly" in c and "SameSite=Strict" in c
                   for c in cookie)
        me = await (await http.get(f"{base}/api/me")).json()
        assert (me["name"], me["role"], me["interface"], me["via"]) == (
            "ann@council.example", "agent", "PJSIP/ann", "oidc")
        assert (await http.get(f"{base}/agent", headers=HTML)).status == 200
        assert (await http.get(f"{base}/standards", headers=HTML)).status == 403  # managers'
        # the code was for one sign-in: used again, the provider refuses it
        again = await http.get(back, allow_redirects=False)
        assert again.status == 401
    (made,) = await svc.tokens.all()  # one token, for that session only; an admin may end it
    assert made.via == "oidc" and made.name == "ann@council.example"
    await svc.tokens.revoke(made.id or 0, svc.clock.now())


async def test_an_account_callcentre_does_not_know_is_refused(
        site: tuple[Service, str]) -> None:
    svc, base = site
    async with browser() as http:
        back = await authorise(http, await at_provider(http, base), "eve@elsewhere.example")
        resp = await http.get(back, allow_redirects=False)
        text = await resp.text()
        assert resp.status == 403 and "eve@elsewhere.example may not use callcentre" in text
        assert "cc_session" not in "".join(resp.headers.getall("Set-Cookie", []))
        assert (await http.get(f"{base}/api/me")).status == 401
    assert await svc.tokens.all() == []


async def test_a_sign_in_another_browser_started_is_refused(site: tuple[Service, str]) -> None:
    """Login CSRF: an attacker's own code and state, sent to a victim's browser, are refused
    because the victim's browser holds no (or another) sign-in in flight."""
    _, base = site
    async with browser() as attacker, browser() as victim:
        back = await authorise(attacker, await at_provider(attacker, base),
                               "ann@council.example")
        resp = await victim.get(back, allow_redirects=False)
        assert resp.status == 401 and "not started here" in await resp.text()
        await at_provider(victim, base)  # a sign-in of the victim's own, with another state
        resp = await victim.get(back, allow_redirects=False)
        assert resp.status == 401
        assert (await victim.get(f"{base}/api/me")).status == 401


async def test_the_person_says_no_at_the_provider(site: tuple[Service, str]) -> None:
    _, base = site
    async with browser() as http:
        url = await at_provider(http, base)
        resp = await http.post(url, data={"action": "deny"}, allow_redirects=False)
        resp = await http.get(resp.headers["Location"], allow_redirects=False)
        assert resp.status == 401 and "did not sign you in (access_denied)" in await resp.text()


async def test_a_provider_that_does_not_answer_gets_a_clear_page(tmp_path: Path) -> None:
    port = free_port()
    cfg = Config(ami_port=free_port(), db=str(tmp_path / "cc.sqlite3"), http_port=port,
                 policy_file=policy_file(tmp_path), ami_reconnect_max=0.5,
                 oidc_issuer=f"http://127.0.0.1:{free_port()}")
    async with Service(cfg).running(), browser() as http:
        resp = await http.get(f"http://127.0.0.1:{port}/signin/oidc", allow_redirects=False)
        assert resp.status == 502 and "did not answer" in await resp.text()


async def test_without_a_provider_there_is_no_council_account_button(tmp_path: Path) -> None:
    port = free_port()
    cfg = Config(ami_port=free_port(), db=str(tmp_path / "cc.sqlite3"), http_port=port,
                 policy_file=policy_file(tmp_path), ami_reconnect_max=0.5)
    async with Service(cfg).running(), browser() as http:
        form = await (await http.get(f"http://127.0.0.1:{port}/signin")).text()
        assert "Sign in with" not in form and 'name="token"' in form
        resp = await http.get(f"http://127.0.0.1:{port}/signin/oidc")
        assert resp.status == 404
