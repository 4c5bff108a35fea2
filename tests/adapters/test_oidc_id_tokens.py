"""What web/oidc.py accepts as an ID token, against a provider that answers exactly what
each test makes it: forged, stale, misaddressed and replayed tokens are refused; a rotated
key is fetched. (tests/adapters/test_oidc.py signs in through a real provider.)"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from joserfc import jwt
from joserfc.jwk import KeySet, OctKey, RSAKey

from callcentre.web.oidc import Attempt, OidcClient, OidcSettings, SignInRefused
from tests.adapters.test_service_end_to_end import free_port

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


class Provider:
    """Discovery, keys and a token endpoint that returns ``self.claims`` signed with
    ``self.signing`` (``self.header`` its JWS header)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.keys = [RSAKey.generate_key(2048, parameters={"kid": "k1"})]
        self.signing: Any = self.keys[0]
        self.header: dict[str, Any] = {"alg": "RS256", "kid": "k1"}
        self.claims: dict[str, Any] = {}
        self.key_fetches = 0
        self.forms: list[dict[str, str]] = []

    def routes(self) -> web.RouteTableDef:
        routes = web.RouteTableDef()

        @routes.get("/.well-known/openid-configuration")
        async def meta(_: web.Request) -> web.Response:
            return web.json_response({
                "issuer": self.base, "authorization_endpoint": f"{self.base}/auth",
                "token_endpoint": f"{self.base}/token", "jwks_uri": f"{self.base}/jwks"})

        @routes.get("/jwks")
        async def jwks(_: web.Request) -> web.Response:
            self.key_fetches += 1
            return web.json_response(KeySet(self.keys).as_dict(private=False))

        @routes.post("/token")
        async def token(request: web.Request) -> web.Response:
            self.forms.append({k: str(v) for k, v in (await request.post()).items()})
            return web.json_response({"id_token": jwt.encode(self.header, self.claims,
                                                             self.signing)})

        return routes


@pytest.fixture
async def provider() -> AsyncIterator[Provider]:
    port = free_port()
    fake = Provider(f"http://127.0.0.1:{port}")
    app = web.Application()
    app.add_routes(fake.routes())
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield fake
    await runner.cleanup()


@pytest.fixture
async def client(provider: Provider) -> AsyncIterator[OidcClient]:
    oidc = OidcClient(OidcSettings(provider.base, "callcentre", "s3cret"), lambda: NOW)
    yield oidc
    await oidc.close()


def good(provider: Provider, attempt: Attempt, **changes: Any) -> dict[str, Any]:
    claims = {"iss": provider.base, "aud": "callcentre", "sub": "u1", "nonce": attempt.nonce,
              "iat": int(NOW.timestamp()), "exp": int((NOW + timedelta(hours=1)).timestamp()),
              "email": "ann@council.example"}
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


async def test_a_good_token_is_read_and_the_exchange_carries_the_verifier(
        provider: Provider, client: OidcClient) -> None:
    attempt = Attempt.new("/agent")
    provider.claims = good(provider, attempt)
    claims = await client.claims("code-1", attempt, "http://cc/signin/oidc/callback")
    assert claims["email"] == "ann@council.example"
    (form,) = provider.forms
    assert form == {"grant_type": "authorization_code", "code": "code-1",
                    "redirect_uri": "http://cc/signin/oidc/callback",
                    "code_verifier": attempt.verifier}


@pytest.mark.parametrize(("change", "why"), [
    ({"aud": "another-client"}, "aud"),
    ({"iss": "https://impostor.example"}, "iss"),
    ({"nonce": "replayed"}, "nonce"),
    ({"nonce": None}, "nonce"),
    ({"exp": int((NOW - timedelta(minutes=10)).timestamp())}, "expired"),
    ({"iat": int((NOW + timedelta(minutes=10)).timestamp())}, "issued in the future"),
    ({"aud": ["callcentre", "other"], "azp": "other"}, "azp"),
])
async def test_a_token_not_for_this_sign_in_is_refused(
        provider: Provider, client: OidcClient, change: dict[str, Any], why: str) -> None:
    attempt = Attempt.new("/")
    provider.claims = good(provider, attempt, **change)
    with pytest.raises(SignInRefused, match=why):
        await client.claims("code", attempt, "http://cc/cb")


async def test_forged_signatures_are_refused(provider: Provider, client: OidcClient) -> None:
    attempt = Attempt.new("/")
    provider.claims = good(provider, attempt)
    provider.signing = RSAKey.generate_key(2048, parameters={"kid": "k1"})  # not published
    with pytest.raises(SignInRefused, match="signature"):
        await client.claims("code", attempt, "http://cc/cb")
    # signed with the client secret, as anyone holding it could
    provider.signing, provider.header = OctKey.import_key(b"s3cret" * 6), {"alg": "HS256"}
    with pytest.raises(SignInRefused, match="signature"):
        await client.claims("code", attempt, "http://cc/cb")


async def test_a_rotated_key_is_fetched_once_it_is_used(
        provider: Provider, client: OidcClient) -> None:
    attempt = Attempt.new("/")
    provider.claims = good(provider, attempt)
    await client.claims("code", attempt, "http://cc/cb")
    await client.claims("code", attempt, "http://cc/cb")
    assert provider.key_fetches == 1  # kept
    provider.keys.append(RSAKey.generate_key(2048, parameters={"kid": "k2"}))
    provider.signing, provider.header = provider.keys[1], {"alg": "RS256", "kid": "k2"}
    await client.claims("code", attempt, "http://cc/cb")
    assert provider.key_fetches == 2


def test_the_cookie_of_a_sign_in_in_flight_round_trips_and_bad_ones_are_none() -> None:
    attempt = Attempt.new("/api/cases/HOU/2026/17?x=1~2")
    assert Attempt.from_cookie(attempt.cookie()) == attempt
    for bad in ("", "a~b~c", "~~~", "a~~c~d"):
        assert Attempt.from_cookie(bad) is None
