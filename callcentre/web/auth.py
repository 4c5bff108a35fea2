"""Who may do what: people's bearer tokens, and one table from route to the least role.

Tokens are random, shown once, stored only as SHA-256, and belong to a named person whose
role decides what they may do (``agent`` < ``manager`` < ``admin``); they expire and can be
revoked. A token is looked up by its SHA-256 digest, never compared as text, so how long a
lookup takes says nothing an attacker can use (they cannot choose a digest's bytes).
``ACCESS`` names the least role of every route; ``access_middleware`` enforces it
before any handler runs, so a route missing from the table is refused, not open
(tests/adapters/test_access.py walks the router with every role and none).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from aiohttp import web

from callcentre.domain.people import AuditEntry, Person, Session, Token
from callcentre.errors import InvalidInput, StorageError
from callcentre.ports import AuditRepository, TokenRepository
from callcentre.web.errors import error_response

log = logging.getLogger("callcentre.web")
ROLES = ("agent", "manager", "admin")  # each role may do everything the ones before it may
PUBLIC = "public"
TOKENS: web.AppKey[TokenRepository] = web.AppKey("tokens")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Rule:
    """The least role for a route; ``by_queue``: the least role when ``?queue=`` (or another
    of ``asks``, e.g. ``?staffing=``) is in the query."""

    role: str
    by_queue: str | None = None
    asks: tuple[str, ...] = ("queue",)


_AGENT, _MANAGER, _ADMIN, _OPEN = Rule("agent"), Rule("manager"), Rule("admin"), Rule(PUBLIC)
# (method, route as aiohttp names it) -> who may. Agents see and act on calls, cases and
# callbacks; managers see every figure and may extend a promise or correct a result;
# admins manage people and tokens.
ACCESS: dict[tuple[str, str], Rule] = {
    ("GET", "/healthz"): _OPEN,
    ("GET", "/public/standards"): _OPEN,
    ("GET", "/api/standards"): Rule(PUBLIC, by_queue="manager",
                                    asks=("queue", "site", "staffing", "agents")),
    ("GET", "/api/standards.csv"): Rule(PUBLIC, by_queue="manager", asks=("queue", "site")),
    ("GET", "/api/openapi.json"): _OPEN,
    ("GET", "/signin"): _OPEN,
    ("GET", "/signin/oidc"): _OPEN,
    ("GET", "/signin/oidc/callback"): _OPEN,
    ("POST", "/signin"): _OPEN,
    ("POST", "/signout"): _AGENT,
    ("GET", "/agent"): _AGENT,
    ("GET", "/"): _AGENT,  # the latest calls
    ("GET", "/metrics"): _MANAGER,
    ("GET", "/standards"): _MANAGER,
    ("GET", "/wallboard"): _MANAGER,
    ("GET", "/api/wallboard"): _MANAGER,
    ("GET", "/api/calls"): _AGENT,
    ("GET", "/api/calls/{id}"): _AGENT,
    ("PATCH", "/api/calls/{id}"): _AGENT,
    ("PUT", "/api/calls/{id}/wrapup"): _AGENT,
    ("GET", "/api/wrapup-codes"): _AGENT,
    ("POST", "/api/cases"): _AGENT,
    ("GET", "/api/cases"): _AGENT,
    ("GET", "/api/cases/{ref}"): _AGENT,
    ("PATCH", "/api/cases/{ref}"): _AGENT,
    ("POST", "/api/callbacks"): _AGENT,
    ("GET", "/api/callbacks"): _AGENT,
    ("GET", "/api/callbacks/stream"): _AGENT,
    ("GET", "/api/callbacks/{id}"): _AGENT,
    ("POST", "/api/callbacks/{id}/cancel"): _AGENT,
    ("POST", "/api/callbacks/{id}/outcome"): _AGENT,
    ("POST", "/api/callbacks/{id}/snooze"): _AGENT,
    ("POST", "/api/callbacks/{id}/accept"): _AGENT,
    ("POST", "/api/callbacks/{id}/reschedule"): _MANAGER,
    ("POST", "/api/callbacks/{id}/correct"): _AGENT,  # recorded with who and why
    ("GET", "/api/me"): _AGENT,
    ("GET", "/api/people"): _ADMIN,
    ("POST", "/api/people"): _ADMIN,
    ("GET", "/api/tokens"): _ADMIN,
    ("POST", "/api/tokens"): _ADMIN,
    ("POST", "/api/tokens/{id}/revoke"): _ADMIN,
    ("GET", "/api/audit"): _ADMIN,
}
OPEN_ROUTES: web.AppKey[frozenset[str]] = web.AppKey("open_routes")  # http_open_routes


@dataclass
class RefusedTokens:
    """Tokens sent that match none (or no longer work): counted, logged with the source
    address (at most once a minute per address, so a guesser cannot flood the log) and
    answered slowly (``delay`` seconds), so that guessing thousands a second is not possible."""

    delay: float = 0.5
    log_every: float = 60.0
    count: int = 0
    _logged: dict[str, float] = field(default_factory=dict)

    async def refused(self, remote: str, why: str) -> None:
        self.count += 1
        now = time.monotonic()
        if now - self._logged.get(remote, -self.log_every) >= self.log_every:
            if len(self._logged) > 10_000:  # many sources: start again rather than grow
                self._logged.clear()
            self._logged[remote] = now
            log.warning("refused a token or sign-in from %s: %s (%d refused since start)",
                        remote, why, self.count)
        await asyncio.sleep(self.delay)


REFUSED: web.AppKey[RefusedTokens] = web.AppKey("refused_tokens")
CLOCK: web.AppKey[Callable[[], datetime]] = web.AppKey("auth_clock")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_person(role: str, name: str, interface: str | None = None) -> Person:
    """A person as an admin gave them (name and interface trimmed); raises InvalidInput."""
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}", field="role")
    if not name.strip() or not name.isprintable() or len(name) > 100:
        raise InvalidInput("name must be 1-100 printable characters", field="name")
    if interface is not None and not interface.isprintable():
        raise InvalidInput("interface must be printable", field="interface")
    return Person(name.strip(), role, (interface or "").strip() or None)


async def create_token(repo: TokenRepository, role: str, name: str, at: datetime, *,
                       days: float = 90.0, interface: str | None = None) -> str:
    """A new token for the person ``name`` (added with ``role`` and ``interface`` if new),
    valid for ``days``; returned once, stored only as its hash."""
    person = new_person(role, name, interface)
    if not 0 < days <= 3660:
        raise InvalidInput("days must be more than 0 and at most 3660", field="days")
    token = "cc_" + secrets.token_urlsafe(32)
    await repo.add(hash_token(token), Token(person.name, role, at, at + timedelta(days=days),
                                            interface=person.interface))
    return token


def _rule(request: web.Request) -> Rule | None:
    route = request.match_info.route
    if request.match_info.http_exception is not None or route.resource is None:
        return _OPEN  # 404/405: nothing to guard; the router answers
    method = "GET" if request.method == "HEAD" else request.method
    if route.resource.canonical in request.app.get(OPEN_ROUTES, frozenset()):
        return _OPEN
    return ACCESS.get((method, route.resource.canonical))


@web.middleware
async def access_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Enforces ``ACCESS`` (fails closed: a route not in it needs an admin)."""
    rule = _rule(request) or _ADMIN
    asked = any(request.query.get(name) for name in rule.asks)
    needed = rule.by_queue if rule.by_queue and asked else rule.role
    if needed == PUBLIC:
        return await handler(request)
    token = await _token(request)
    if token is None or (isinstance(token, str) and _SESSION_COOKIE_SENT in request):
        return _sign_in_first(request)
    if isinstance(token, str):
        await request.app[REFUSED].refused(request.remote or "unknown address", token)
        return _unauthorised("invalid_token", f"the token is {token}; ask an admin for a new one")
    request[TOKEN] = token  # known even when refused: the audit trail names them
    if ROLES.index(token.role) < ROLES.index(needed):
        return error_response(403, "forbidden", f"this needs the {needed} role")
    if not await _csrf_ok(request):
        return error_response(403, "csrf", "a change asked for with a session cookie needs "
                              "the page's X-CSRF-Token header (or csrf field)")
    return await handler(request)


def _sign_in_first(request: web.Request) -> web.StreamResponse:
    """401; a browser asking for a page is sent to sign in, and back here afterwards."""
    if (request.method == "GET" and not request.path.startswith("/api/")
            and "text/html" in request.headers.get("Accept", "")):
        raise web.HTTPSeeOther(f"/signin?{urlencode({'next': request.path_qs})}")
    return _unauthorised("unauthorised", "send 'Authorization: Bearer <token>', or sign in "
                         "at /signin")


async def _csrf_ok(request: web.Request) -> bool:
    """A session's change must carry its CSRF secret: a cookie alone is not consent (the
    cookie is SameSite=Strict too). Bearer tokens are never sent by a browser unasked."""
    session = request.get(SESSION)
    if session is None or request.method in ("GET", "HEAD", "OPTIONS"):
        return True
    sent = request.headers.get("X-CSRF-Token")
    if sent is None and request.content_type == "application/x-www-form-urlencoded":
        sent = str((await request.post()).get("csrf", ""))
    return sent is not None and hmac.compare_digest(sent.encode(), session.csrf.encode())


AUDIT: web.AppKey[AuditRepository] = web.AppKey("audit")
UNAUDITED = frozenset({("GET", "/metrics")})  # a scrape every few seconds, no resident in it


@web.middleware
async def audit_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Appends who did what to the audit trail, once the answer is known (outside
    web/errors.py's middleware, so a handler's error is recorded with its status)."""
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        token = request.get(TOKEN)
        if token is not None and AUDIT in request.app:
            await _audit(request, token, status)


async def _audit(request: web.Request, token: Token, status: int) -> None:
    route = request.match_info.route.resource
    name = route.canonical if route is not None else request.path
    method = "GET" if request.method == "HEAD" else request.method
    if (method, name) in UNAUDITED:
        return
    action = "refused" if status == 403 else ("read" if method == "GET" else "change")
    target = ",".join(request.match_info.values()) or request.query_string[:200]
    entry = AuditEntry(request.app.get(CLOCK, _utc_now)(), token.name, token.role, action,
                       method, name, target, status)
    try:
        await request.app[AUDIT].append(entry)
    except StorageError:
        log.exception("could not append to the audit trail: %s %s by %s", method, name,
                      token.name)


def _unauthorised(error: str, message: str) -> web.Response:
    response = error_response(401, error, message)
    challenge = 'Bearer realm="callcentre"'
    if error == "invalid_token":
        challenge += ', error="invalid_token"'
    response.headers["WWW-Authenticate"] = challenge
    return response


TOKEN = web.RequestKey("token", Token)  # the request's token, once access_middleware took it


def person(request: web.Request) -> Token:
    """Whose token let the request through (never anything the request body says)."""
    return request[TOKEN]


def who(request: web.Request) -> str:
    """Who sent the request, for the record: "<name> (<role>)"."""
    token = request[TOKEN]
    return f"{token.name} ({token.role})"


SESSION_COOKIE = "cc_session"
SESSION = web.RequestKey("session", Session)  # set when a session cookie let the request in
_SESSION_COOKIE_SENT = web.RequestKey("session_cookie_sent", bool)


async def _token(request: web.Request) -> Token | str | None:
    """The request's valid token (a bearer token, else a session cookie's); None when it
    sent neither; why not, when it sent a bad one."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        cookie = request.cookies.get(SESSION_COOKIE)
        return None if not cookie else await _session_token(request, cookie)
    try:
        digest = hash_token(value.strip())
    except UnicodeEncodeError:  # bytes that are not UTF-8 (aiohttp keeps them as surrogates)
        return "unknown"
    token = await request.app[TOKENS].find(digest)  # by digest: timing tells nothing of a token
    problem = token_problem(token, request.app.get(CLOCK, _utc_now)())
    return problem if problem or token is None else token


def token_problem(token: Token | None, now: datetime) -> str:
    """Why a token found (or not) cannot be used now; "" when it can."""
    if token is None:
        return "unknown"
    if token.revoked_at is not None:
        return "revoked"
    return "" if token.valid_at(now) else "expired"


async def _session_token(request: web.Request, cookie: str) -> Token | str:
    request[_SESSION_COOKIE_SENT] = True
    session = await request.app[TOKENS].session(hash_token(cookie))
    if session is None or not session.valid_at(request.app.get(CLOCK, _utc_now)()):
        return "signed out"
    request[SESSION] = session
    return session.token


def _utc_now() -> datetime:
    return datetime.now(UTC)
