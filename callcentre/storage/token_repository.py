"""All SQL about people and their API tokens (tokens stored hashed; see web/auth.py)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from callcentre.domain.people import Person, Session, Token
from callcentre.errors import Conflict, NotFound
from callcentre.storage.db import Database
from callcentre.storage.rows import Row, Store, from_epoch, to_epoch

# {id}: the token's key, SQLite's rowid or PostgreSQL's id column
_SELECT = ("SELECT t.{id} AS id, p.name, p.role, p.interface, t.created_at, t.expires_at,"
           " t.revoked_at, t.via FROM tokens t JOIN people p ON p.id = t.person_id")


class SqlTokenRepository:
    """What both engines run alike; each engine's subclass names the token's key, what a
    taken name or interface raises, how a new row's id is read and how names compare."""

    _ID = "id"
    _TAKEN: tuple[type[Exception], ...] = ()
    # the person by name as e-mail is read, the exact spelling first
    _PERSON = ("SELECT name, role, interface FROM people WHERE lower(name) = lower(?)"
               " ORDER BY name = ? DESC LIMIT 1")

    def __init__(self, db: Store) -> None:
        self._db = db
        self._select = _SELECT.format(id=self._ID)

    @staticmethod
    async def _insert(conn: Any, sql: str, args: Sequence[Any]) -> int:
        """Run an INSERT into a table with an id; the new row's id."""
        raise NotImplementedError

    async def add(self, token_hash: str, token: Token) -> Token:
        async with self._db.write() as conn:
            person_id = await self._person(conn, token)
            new_id = await self._insert(
                conn,
                "INSERT INTO tokens (hash, name, role, created_at, person_id, expires_at, via)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (token_hash, token.name, token.role, to_epoch(token.created_at), person_id,
                 to_epoch(token.expires_at), token.via))
        return replace(token, revoked_at=None, id=new_id)

    async def add_person(self, person: Person, at: datetime) -> Person:
        async with self._db.write() as conn:
            try:
                await conn.execute(
                    "INSERT INTO people (name, role, interface, created_at) VALUES (?, ?, ?, ?)",
                    (person.name, person.role, person.interface, to_epoch(at)))
            except self._TAKEN as err:
                raise Conflict(f"{person.name} is already a person, or the interface "
                               f"{person.interface} is another person's") from err
        return person

    async def person(self, name: str) -> Person | None:
        row = await self._db.fetch_one(self._PERSON, (name, name))
        return None if row is None else Person(row["name"], row["role"], row["interface"])

    async def people(self) -> list[Person]:
        rows = await self._db.fetch_all("SELECT name, role, interface FROM people ORDER BY name")
        return [Person(r["name"], r["role"], r["interface"]) for r in rows]

    async def find(self, token_hash: str) -> Token | None:
        row = await self._db.fetch_one(f"{self._select} WHERE t.hash = ?", (token_hash,))
        return None if row is None else self._db.unreadable.one("tokens", row, _token)

    async def all(self) -> list[Token]:
        rows = await self._db.fetch_all(f"{self._select} ORDER BY t.{self._ID} DESC")
        return self._db.unreadable.read("tokens", rows, _token)

    async def revoke(self, token_id: int, at: datetime) -> Token:
        async with self._db.write() as conn:
            await conn.execute("UPDATE tokens SET revoked_at = coalesce(revoked_at, ?)"
                               f" WHERE {self._ID} = ?", (to_epoch(at), token_id))
        row = await self._db.fetch_one(f"{self._select} WHERE t.{self._ID} = ?", (token_id,))
        if row is None:
            raise NotFound(f"no token {token_id}")
        return self._db.unreadable.one("tokens", row, _token)

    async def start_session(self, session_hash: str, session: Session) -> None:
        async with self._db.write() as conn:
            await conn.execute(
                "INSERT INTO sessions (hash, token_id, csrf, created_at, expires_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (session_hash, session.token.id, session.csrf, to_epoch(session.created_at),
                 to_epoch(session.expires_at)))

    async def session(self, session_hash: str) -> Session | None:
        row = await self._db.fetch_one(
            "SELECT s.csrf, s.created_at AS s_created, s.expires_at AS s_expires, s.ended_at,"
            f" x.* FROM sessions s JOIN ({self._select}) x ON x.id = s.token_id WHERE s.hash = ?",
            (session_hash,))
        return None if row is None else self._db.unreadable.one("sessions", row, _session)

    async def end_session(self, session_hash: str, at: datetime) -> None:
        async with self._db.write() as conn:
            await conn.execute("UPDATE sessions SET ended_at = coalesce(ended_at, ?)"
                               " WHERE hash = ?", (to_epoch(at), session_hash))

    async def bound_expiry(self, until: datetime) -> int:
        async with self._db.write() as conn:
            cur = await conn.execute("UPDATE tokens SET expires_at = ? WHERE expires_at IS NULL",
                                     (to_epoch(until),))
            return int(cur.rowcount)

    async def _person(self, conn: Any, token: Token) -> int:
        """The person's id, added when new; their role and interface must be as stored."""
        rows = list(await conn.execute_fetchall(
            "SELECT id, role, interface FROM people WHERE name = ?", (token.name,)))
        if rows:
            pid, role, interface = rows[0]
            if (role, interface) != (token.role, token.interface):
                raise Conflict(f"{token.name} has the {role} role"
                               + (f" at {interface}" if interface else "") + "; a new token is "
                               "for the same role and interface")
            return int(pid)
        try:
            return await self._insert(
                conn, "INSERT INTO people (name, role, interface, created_at) VALUES (?, ?, ?, ?)",
                (token.name, token.role, token.interface, to_epoch(token.created_at)))
        except self._TAKEN as err:
            raise Conflict(f"interface {token.interface} is another person's") from err


def _token(row: Row) -> Token:
    created = from_epoch(row["created_at"])
    assert created is not None
    return Token(row["name"], row["role"], created, from_epoch(row["expires_at"]),
                 from_epoch(row["revoked_at"]), row["interface"], row["id"], row["via"])


def _session(row: Row) -> Session:
    created, expires = from_epoch(row["s_created"]), from_epoch(row["s_expires"])
    assert created is not None and expires is not None
    return Session(_token(row), row["csrf"], created, expires, from_epoch(row["ended_at"]))


class SqliteTokenRepository(SqlTokenRepository):
    _ID = "rowid"
    _TAKEN = (sqlite3.IntegrityError,)
    _PERSON = ("SELECT name, role, interface FROM people WHERE name = ? COLLATE NOCASE"
               " ORDER BY name = ? DESC LIMIT 1")

    def __init__(self, db: Database) -> None:
        super().__init__(db)

    @staticmethod
    async def _insert(conn: Any, sql: str, args: Sequence[Any]) -> int:
        cur = await conn.execute(sql, args)
        return int(cur.lastrowid)
