"""All SQL about cases."""

from __future__ import annotations

import sqlite3
from collections.abc import Collection
from datetime import datetime
from typing import Any

from callcentre.domain.cases import Case, CaseStatus
from callcentre.errors import CaseExists, NoSuchCase, StorageError
from callcentre.storage.db import Database
from callcentre.storage.filters import where
from callcentre.storage.rows import Row, Store, from_epoch, to_epoch

_PER_READ = 500  # values in one IN (...) or VALUES list: under SQLite's variable limit
# The same query as latest_open_for, once per number in p.
_LATEST_OPEN_FOR_EACH = (
    "WITH p(phone) AS (VALUES {rows}) SELECT * FROM cases WHERE ref IN (SELECT "
    "(SELECT ref FROM cases WHERE phone = p.phone AND status = 'open' "
    "ORDER BY created_at DESC LIMIT 1) FROM p)"
)


def case_from_row(row: Row) -> Case:
    created, updated = from_epoch(row["created_at"]), from_epoch(row["updated_at"])
    assert created is not None and updated is not None  # NOT NULL columns
    return Case(row["ref"], row["subject"], CaseStatus(row["status"]), row["phone"],
                created, updated)


class SqlCaseRepository:
    """What both engines run alike; each engine's subclass says what a duplicate raises and
    how many cases are read together."""

    _STEER = False  # list_query's unary + (SQLite's)

    def __init__(self, db: Store) -> None:
        self._db = db

    @staticmethod
    def _duplicate(err: BaseException | None) -> bool:
        """Did the engine refuse a row because its key is taken?"""
        raise NotImplementedError

    async def add(self, case: Case) -> Case:
        try:
            async with self._db.write() as conn:
                await conn.execute(
                    "INSERT INTO cases (ref, subject, status, phone, created_at, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (case.ref, case.subject, case.status.value, case.phone,
                     to_epoch(case.created_at), to_epoch(case.updated_at)))
        except StorageError as err:
            if self._duplicate(err.__cause__):
                raise CaseExists(case.ref) from err
            raise
        return case

    async def get(self, ref: str) -> Case:
        row = await self._db.fetch_one("SELECT * FROM cases WHERE ref = ?", (ref,))
        if row is None:
            raise NoSuchCase(ref)
        return case_from_row(row)

    async def find(self, status: CaseStatus | None, phone: str | None, limit: int,
                   cursor: str | None) -> tuple[list[Case], str | None]:
        rows = await self._db.fetch_all(*list_query(status, phone, limit, cursor, self._STEER))
        items = [case_from_row(r) for r in rows[:limit]]
        return items, (items[-1].ref if len(rows) > limit and items else None)

    async def latest_open_for(self, phone: str) -> Case | None:
        row = await self._db.fetch_one(
            "SELECT * FROM cases WHERE phone = ? AND status = 'open' "
            "ORDER BY created_at DESC LIMIT 1", (phone,))
        return None if row is None else case_from_row(row)

    async def set_status(self, ref: str, status: CaseStatus, at: datetime) -> Case:
        async with self._db.write() as conn:
            cur = await conn.execute("UPDATE cases SET status = ?, updated_at = ? WHERE ref = ?",
                                     (status.value, to_epoch(at), ref))
            if cur.rowcount == 0:
                raise NoSuchCase(ref)
        return await self.get(ref)


class SqliteCaseRepository(SqlCaseRepository):
    _STEER = True
    def __init__(self, db: Database) -> None:
        super().__init__(db)

    @staticmethod
    def _duplicate(err: BaseException | None) -> bool:
        return isinstance(err, sqlite3.IntegrityError)

    async def latest_open_for_each(self, phones: Collection[str]) -> dict[str, Case]:
        return await self._by_chunks(_LATEST_OPEN_FOR_EACH, "(?)", phones, "phone")

    async def get_each(self, refs: Collection[str]) -> dict[str, Case]:
        return await self._by_chunks("SELECT * FROM cases WHERE ref IN ({rows})", "?", refs, "ref")

    async def _by_chunks(self, sql: str, mark: str, keys: Collection[str],
                         column: str) -> dict[str, Case]:
        """Cases by ``column``, running ``sql`` with ``{rows}`` as one mark per key."""
        wanted = sorted(keys)
        found: dict[str, Case] = {}
        for start in range(0, len(wanted), _PER_READ):
            chunk = wanted[start:start + _PER_READ]
            rows = await self._db.fetch_all(sql.format(rows=", ".join([mark] * len(chunk))), chunk)
            found.update((row[column], case_from_row(row)) for row in rows)
        return found


def list_query(status: CaseStatus | None, phone: str | None, limit: int,
               cursor: str | None, steer: bool = True) -> tuple[str, list[Any]]:
    """find()'s one statement: a page and one more row, by ref. Each filter has an index in
    ref order (migration 018; a number's few cases are read through its own, the status
    only checked); tests/adapters/test_case_plans.py asks EXPLAIN QUERY PLAN. ``steer``:
    SQLite's unary + (PostgreSQL's planner needs none and has no + for text)."""
    only = "+" if steer and phone is not None else ""
    clause, args = where(((f"{only}status = ?", status.value if status else None),
                          ("phone = ?", phone), ("ref > ?", cursor)))
    return f"SELECT * FROM cases {clause} ORDER BY ref LIMIT ?", [*args, limit + 1]
