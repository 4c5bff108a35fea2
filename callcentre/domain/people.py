"""People who use callcentre, their tokens and browser sessions, and the audit trail of
what they did (the access rules themselves are web/auth.py's ACCESS table)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Token:
    """A bearer token of a named person (``name``, unique): what it may do is the person's
    ``role``; ``interface`` is the AMI member interface where an agent takes calls."""

    name: str
    role: str
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    interface: str | None = None
    id: int | None = None
    via: str | None = None  # "oidc": made for one sign-in through the identity provider

    def valid_at(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)


@dataclass(frozen=True, slots=True)
class Person:
    """Someone an admin let use callcentre: tokens and sign-ins take their ``role`` and
    ``interface`` (the AMI member interface where an agent takes calls)."""

    name: str
    role: str
    interface: str | None = None


@dataclass(frozen=True, slots=True)
class Session:
    """A browser's sign-in with a person's token: the cookie names it; ``csrf`` must come
    back with every change the page asks for."""

    token: Token
    csrf: str
    created_at: datetime
    expires_at: datetime
    ended_at: datetime | None = None

    def valid_at(self, now: datetime) -> bool:
        return self.ended_at is None and now < self.expires_at and self.token.valid_at(now)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One request a person's token made: what they read or changed, or were refused."""

    at: datetime
    person: str
    role: str
    action: str  # read, change, refused
    method: str
    route: str  # as the router names it, e.g. /api/callbacks/{id}
    target: str  # the id or ref in the path, or a list's query
    status: int
