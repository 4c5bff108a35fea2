"""Bearer tokens with roles. Tokens are random, shown once, stored only as SHA-256."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aiohttp import web

from callcentre.errors import InvalidInput
from callcentre.ports import Token, TokenRepository
from callcentre.web.errors import error_response

log = logging.getLogger("callcentre.web")
ROLES = ("agent", "manager", "admin")  # each role may do everything the ones before it may
TOKENS: web.AppKey[TokenRepository] = web.AppKey("tokens")


@dataclass
class RefusedTokens:
    """Tokens sent that match none: counted, logged with the source address (at most once a
    minute per address, so a guesser cannot flood the log) and answered slowly (``delay``
    seconds), so that guessing thousands a second is not possible."""

    delay: float = 0.5
    log_every: float = 60.0
    count: int = 0
    _logged: dict[str, float] = field(default_factory=dict)

    async def refused(self, remote: str) -> None:
        self.count += 1
        now = time.monotonic()
        if now - self._logged.get(remote, -self.log_every) >= self.log_every:
            if len(self._logged) > 10_000:  # many sources: start again rather than grow
                self._logged.clear()
            self._logged[remote] = now
            log.warning("refused an unknown API token from %s (%d refused since start)",
                        remote, self.count)
        await asyncio.sleep(self.delay)


REFUSED: web.AppKey[RefusedTokens] = web.AppKey("refused_tokens")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


async def create_token(repo: TokenRepository, role: str, name: str, at: datetime) -> str:
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}", field="role")
    if not name.strip():
        raise InvalidInput("name must not be empty", field="name")
    token = "cc_" + secrets.token_urlsafe(32)
    await repo.add(hash_token(token), Token(name.strip(), role, at))
    return token


def requires(role: str) -> Callable[[Handler], Handler]:
    """Decorator: the request needs a bearer token of ``role`` or higher."""
    needed = ROLES.index(role)

    def wrap(handler: Handler) -> Handler:
        async def guarded(request: web.Request) -> web.StreamResponse:
            token = await _token(request)
            if token is None:
                return error_response(401, "unauthorised", "send 'Authorization: Bearer <token>'")
            if token is UNKNOWN:
                await request.app[REFUSED].refused(request.remote or "unknown address")
                return error_response(401, "unauthorised", "send 'Authorization: Bearer <token>'")
            if ROLES.index(token.role) < needed:
                return error_response(403, "forbidden", f"this needs the {role} role")
            request[_TOKEN] = token
            return await handler(request)

        return guarded

    return wrap


UNKNOWN = Token("unknown", "", datetime.min.replace(tzinfo=UTC))  # sent, matching none
_TOKEN = web.RequestKey("token", Token)  # the request's token, once ``requires`` accepted it


def who(request: web.Request) -> str:
    """Who sent a request ``requires`` let through, for the record: "<name> (<role>)"."""
    token = request[_TOKEN]
    return f"{token.name} ({token.role})"


async def _token(request: web.Request) -> Token | None:
    """The request's token; None when it sent none, UNKNOWN when it matches none."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    try:
        digest = hash_token(value.strip())
    except UnicodeEncodeError:  # bytes that are not UTF-8 (aiohttp keeps them as surrogates)
        return UNKNOWN
    return await request.app[TOKENS].find(digest) or UNKNOWN
