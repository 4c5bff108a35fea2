"""Signing in with a council account: OpenID Connect's authorization code flow, with PKCE
(RFC 7636), a state bound to the browser by a cookie and a nonce bound to the ID token.

``GET /signin/oidc`` sends the browser to the identity provider; ``GET /signin/oidc/callback``
takes it back. The code is exchanged with the client secret and the PKCE verifier; the ID
token is checked with joserfc (signature by the provider's published keys, issuer, audience,
expiry, nonce) and ``oidc_name_claim`` names the person. Only a person an admin added may
sign in, with callcentre's role for them, never one the provider claims. The session is
web/signin.py's, with a token made for it alone (``via="oidc"``): it is never shown to
anyone, ends with the session, and an admin who revokes it ends the session.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote, unquote, urlencode

import aiohttp
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

log = logging.getLogger("callcentre.web")

SCOPE = "openid email profile"
# asymmetric only: an ID token signed with the client secret (HS256) could be made by anyone
# who holds that secret, and "none" by anyone at all
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512",
              "EdDSA")
LEEWAY_SECONDS = 120  # clocks of the provider and of callcentre may differ this much


@dataclass(frozen=True, slots=True)
class OidcSettings:
    issuer: str
    client_id: str
    client_secret: str
    name_claim: str = "email"
    label: str = "your council account"
    redirect_uri: str = ""  # empty: /signin/oidc/callback where the browser came from


class ProviderUnavailable(Exception):
    """The identity provider did not answer, or not as OpenID Connect says it must."""


class SignInRefused(Exception):
    """The provider's answer did not check out; the text may be shown (it holds no secret)."""


@dataclass(frozen=True, slots=True)
class Attempt:
    """One sign-in in flight: what the browser's cookie holds between leaving and coming back."""

    state: str
    nonce: str
    verifier: str
    next_path: str

    @classmethod
    def new(cls, next_path: str) -> Attempt:
        state, nonce, verifier = (secrets.token_urlsafe(32) for _ in range(3))
        return cls(state, nonce, verifier, next_path)

    def cookie(self) -> str:
        return "~".join((self.state, self.nonce, self.verifier, quote(self.next_path, safe="")))

    @classmethod
    def from_cookie(cls, value: str) -> Attempt | None:
        parts = value.split("~", 3)  # the next path's own "~" are left unquoted
        if len(parts) != 4 or not all(parts[:3]):
            return None
        return cls(parts[0], parts[1], parts[2], unquote(parts[3]))

    @property
    def challenge(self) -> str:
        digest = hashlib.sha256(self.verifier.encode("ascii")).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class OidcClient:
    """callcentre as a relying party of one provider: its metadata and keys are fetched when
    first needed and kept; the keys are fetched again when a token names one not yet seen."""

    def __init__(self, settings: OidcSettings, clock: Callable[[], datetime],
                 timeout: float = 10.0) -> None:
        self.settings = settings
        self._clock = clock
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._http: aiohttp.ClientSession | None = None
        self._meta: dict[str, Any] | None = None
        self._keys: KeySet | None = None

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def authorization_url(self, attempt: Attempt, redirect_uri: str) -> str:
        endpoint = str((await self._metadata())["authorization_endpoint"])
        query = urlencode({
            "response_type": "code", "client_id": self.settings.client_id,
            "redirect_uri": redirect_uri, "scope": SCOPE, "state": attempt.state,
            "nonce": attempt.nonce, "code_challenge": attempt.challenge,
            "code_challenge_method": "S256"})
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"

    async def claims(self, code: str, attempt: Attempt, redirect_uri: str) -> dict[str, Any]:
        """The checked claims of the ID token the code is exchanged for."""
        meta = await self._metadata()
        answer = await self._exchange(str(meta["token_endpoint"]), code, attempt, redirect_uri)
        id_token = answer.get("id_token")
        if not isinstance(id_token, str):
            raise SignInRefused("the identity provider sent no ID token")
        return await self._checked(id_token, str(meta["issuer"]), attempt.nonce)

    async def _exchange(self, endpoint: str, code: str, attempt: Attempt,
                        redirect_uri: str) -> dict[str, Any]:
        # RFC 6749 2.3.1: the client's ID and secret are form-encoded before Basic auth
        s = self.settings
        pair = f"{quote(s.client_id, safe='')}:{quote(s.client_secret, safe='')}"
        auth = {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode("ascii")}
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
                "code_verifier": attempt.verifier}
        status, body = await self._json("POST", endpoint, data=form, headers=auth)
        if status != 200:
            raise SignInRefused("the identity provider refused the sign-in code "
                                f"({body.get('error', status)})")
        return body

    async def _checked(self, id_token: str, issuer: str, nonce: str) -> dict[str, Any]:
        try:
            token = jwt.decode(id_token, await self._key_set(id_token), algorithms=ALGORITHMS)
        except (JoseError, ValueError) as err:
            raise SignInRefused(f"the ID token's signature did not check out ({err})") from err
        s = self.settings
        registry = jwt.JWTClaimsRegistry(
            now=lambda: int(self._clock().timestamp()), leeway=LEEWAY_SECONDS,
            iss={"essential": True, "value": issuer},
            aud={"essential": True, "value": s.client_id},
            exp={"essential": True}, iat={"essential": True}, sub={"essential": True},
            nonce={"essential": True, "value": nonce})
        try:
            registry.validate(token.claims)
        except JoseError as err:
            raise SignInRefused(f"the ID token did not check out ({err})") from err
        aud = token.claims["aud"]
        if isinstance(aud, list) and len(aud) > 1 and token.claims.get("azp") != s.client_id:
            raise SignInRefused("the ID token was made for another client (azp)")
        return dict(token.claims)

    async def _key_set(self, id_token: str) -> KeySet:
        """The provider's keys, fetched again when the token names a key not among them."""
        kid = _header_kid(id_token)
        if self._keys is None or (kid is not None and not _has_kid(self._keys, kid)):
            status, body = await self._json("GET", str((await self._metadata())["jwks_uri"]))
            if status != 200:
                raise ProviderUnavailable(f"its keys (jwks_uri) answered {status}")
            try:
                self._keys = KeySet.import_key_set(body)  # type: ignore[arg-type]
            except (JoseError, ValueError, KeyError, TypeError) as err:
                raise ProviderUnavailable(f"its keys could not be read ({err})") from err
        return self._keys

    async def _metadata(self) -> dict[str, Any]:
        if self._meta is None:
            issuer = self.settings.issuer.rstrip("/")
            status, meta = await self._json("GET", f"{issuer}/.well-known/openid-configuration")
            if status != 200:
                raise ProviderUnavailable(f"its discovery document answered {status}")
            if str(meta.get("issuer", "")).rstrip("/") != issuer:
                raise ProviderUnavailable(f"it calls itself {meta.get('issuer')!r}, not {issuer!r}")
            missing = {"authorization_endpoint", "token_endpoint", "jwks_uri"} - meta.keys()
            if missing:
                raise ProviderUnavailable(f"its discovery document lacks {sorted(missing)}")
            self._meta = meta
        return self._meta

    async def _json(self, method: str, url: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=self._timeout)
        try:
            async with self._http.request(method, url, **kwargs) as resp:
                body = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as err:
            raise ProviderUnavailable(f"{url} did not answer with JSON ({err!r})") from err
        if not isinstance(body, dict):
            raise ProviderUnavailable(f"{url} answered with something other than an object")
        return resp.status, body


def _header_kid(id_token: str) -> str | None:
    try:
        head = id_token.split(".", 1)[0]
        header = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    except (ValueError, UnicodeDecodeError):
        return None
    kid = header.get("kid") if isinstance(header, dict) else None
    return kid if isinstance(kid, str) else None


def _has_kid(keys: KeySet, kid: str) -> bool:
    return any(key.kid == kid for key in keys.keys)
