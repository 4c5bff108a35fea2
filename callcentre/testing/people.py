"""In-memory audit trail, tokens and people."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from callcentre.domain.people import AuditEntry, Person, Session, Token
from callcentre.errors import (
    Conflict,
    NotFound,
)


class InMemoryAuditRepository:
    def __init__(self) -> None:
        self.entries: list[AuditEntry] = []

    async def append(self, entry: AuditEntry) -> None:
        self.entries.append(entry)

    async def between(self, start: datetime, end: datetime) -> list[AuditEntry]:
        return sorted((e for e in self.entries if start <= e.at < end), key=lambda e: e.at)


class InMemoryTokenRepository:
    def __init__(self) -> None:
        self._tokens: dict[str, Token] = {}  # hash -> token
        self._people: dict[str, Person] = {}  # by name
        self._sessions: dict[str, Session] = {}

    async def add(self, token_hash: str, token: Token) -> Token:
        person = Person(token.name, token.role, token.interface)
        if self._people.get(token.name, person) != person:
            raise Conflict(f"{token.name} has the {self._people[token.name].role} role")
        if token.name not in self._people:
            await self.add_person(person, token.created_at)
        self._tokens[token_hash] = replace(token, revoked_at=None, id=len(self._tokens) + 1)
        return self._tokens[token_hash]

    async def find(self, token_hash: str) -> Token | None:
        return self._tokens.get(token_hash)

    async def add_person(self, person: Person, at: datetime) -> Person:
        if person.name in self._people or person.interface in {
                p.interface for p in self._people.values() if p.interface}:
            raise Conflict(f"{person.name} is already a person, or the interface "
                           f"{person.interface} is another person's")
        self._people[person.name] = person
        return person

    async def person(self, name: str) -> Person | None:
        alike = [p for p in self._people.values() if p.name.lower() == name.lower()]
        return self._people.get(name) or (alike[0] if alike else None)

    async def people(self) -> list[Person]:
        return sorted(self._people.values(), key=lambda p: p.name)

    async def all(self) -> list[Token]:
        return sorted(self._tokens.values(), key=lambda t: -(t.id or 0))

    async def revoke(self, token_id: int, at: datetime) -> Token:
        for digest, token in self._tokens.items():
            if token.id == token_id:
                if token.revoked_at is None:
                    self._tokens[digest] = replace(token, revoked_at=at)
                return self._tokens[digest]
        raise NotFound(f"no token {token_id}")

    async def start_session(self, session_hash: str, session: Session) -> None:
        self._sessions[session_hash] = session

    async def session(self, session_hash: str) -> Session | None:
        found, now = self._sessions.get(session_hash), {t.id: t for t in self._tokens.values()}
        return None if found is None else replace(found, token=now[found.token.id])

    async def end_session(self, session_hash: str, at: datetime) -> None:
        found = self._sessions.get(session_hash)
        if found is not None and found.ended_at is None:
            self._sessions[session_hash] = replace(found, ended_at=at)

    async def bound_expiry(self, until: datetime) -> int:
        unbounded = {h: t for h, t in self._tokens.items() if t.expires_at is None}
        self._tokens.update({h: replace(t, expires_at=until) for h, t in unbounded.items()})
        return len(unbounded)
