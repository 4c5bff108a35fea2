"""Tokens, the audit log and retention: who may do what, who did, and what is kept."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from callcentre.domain.people import AuditEntry, Person, Session, Token
from callcentre.domain.retention import Changed, Kind


class AuditRepository(Protocol):
    """Append-only: entries are added, never changed or removed."""

    async def append(self, entry: AuditEntry) -> None: ...

    async def between(self, start: datetime, end: datetime) -> list[AuditEntry]:
        """Entries with ``start <= at < end``, oldest first."""


class TokenRepository(Protocol):
    async def add(self, token_hash: str, token: Token) -> Token:
        """Store a token of the person ``token.name`` (added with its role and interface
        when new); return it with ``id`` set. Raises Conflict when that person exists with
        another role or interface, or the interface is another person's."""

    async def find(self, token_hash: str) -> Token | None:
        """The token with this hash, revoked and expired ones included (the caller decides)."""

    async def add_person(self, person: Person, at: datetime) -> Person:
        """Let someone use callcentre (with no token yet: they may sign in through the
        identity provider). Raises Conflict when the name or the interface is taken."""

    async def person(self, name: str) -> Person | None:
        """The person with this name (letter case aside, as in e-mail addresses), if an
        admin added them."""

    async def people(self) -> list[Person]:
        """Everyone, by name."""

    async def all(self) -> list[Token]:
        """Every token, newest first."""

    async def revoke(self, token_id: int, at: datetime) -> Token:
        """Mark a token revoked (once; revoking again keeps the first time). Raises NotFound."""

    async def start_session(self, session_hash: str, session: Session) -> None:
        """Store a browser session of ``session.token`` (which must have an id)."""

    async def session(self, session_hash: str) -> Session | None:
        """The session with this hash, ended and expired ones included, with its token as
        it is now (revoked or expired tokens included: the caller decides)."""

    async def end_session(self, session_hash: str, at: datetime) -> None:
        """Sign-out: the session ends (once; ending it again changes nothing)."""

    async def bound_expiry(self, until: datetime) -> int:
        """Give every token without an expiry (made before expiry existed) this one; return
        how many."""


@dataclass(frozen=True, slots=True)
class RetentionRun:
    started_at: datetime
    finished_at: datetime
    changed: Changed
    trigger: str  # "purge" (the daily task) or "erase" (a resident's request)


class RetentionRepository(Protocol):
    """Residents' personal data across every table: anonymised when its period is over or
    on request, and exported on request. Anonymising keeps every column a published figure
    is computed from (domain/retention.py); a record once anonymised is never counted again.
    Raises StorageError when the database fails."""

    async def anonymise(self, kind: Kind, before: datetime, limit: int) -> int:
        """Anonymise at most ``limit`` records of ``kind`` older than ``before`` that still
        hold personal data (finished calls by arrival, closed callbacks and cases by when
        they closed or last changed, queue_log lines by their time), in one short write;
        return how many changed (fewer than ``limit``: none are left)."""

    async def export(self, number: str) -> dict[str, list[dict[str, Any]]]:
        """Every record about the E.164 ``number``: calls, cases, callbacks (with attempts
        and history) and queue_log lines, by table name; plain JSON values."""

    async def erase(self, number: str) -> Changed:
        """Anonymise every record about the E.164 ``number`` (the purge's rule), in one
        write; return how many of each kind changed."""

    async def record_run(self, run: RetentionRun) -> None:
        """Keep what a purge or an erasure did (the retention_runs table)."""

    async def last_run(self) -> RetentionRun | None:
        """The latest run recorded, or None."""
