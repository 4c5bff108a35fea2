"""Bearer tokens with roles. Tokens are random, shown once, stored only as SHA-256."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Awaitable, Callable
from datetime import datetime

from aiohttp import web

from callcentre.errors import InvalidInput
from callcentre.ports import Token, TokenRepository
from callcentre.web.errors import error_response

ROLES = ("agent", "manager", "admin")  # each role may do everything the ones before it may
TOKENS: web.AppKey[TokenRepository] = web.AppKey("tokens")
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
            if ROLES.index(token.role) < needed:
                return error_response(403, "forbidden", f"this needs the {role} role")
            return await handler(request)

        return guarded

    return wrap


async def _token(request: web.Request) -> Token | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return await request.app[TOKENS].find(hash_token(value.strip()))
