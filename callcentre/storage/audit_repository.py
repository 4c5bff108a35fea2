"""All SQL about the audit trail (append-only; migration 010's triggers refuse changes)."""

from __future__ import annotations

from datetime import datetime

from callcentre.domain.people import AuditEntry
from callcentre.storage.db import Database
from callcentre.storage.rows import Row, Store, from_epoch, to_epoch


class SqlAuditRepository:
    """The same statements on both engines (each engine refuses changes by its triggers)."""

    def __init__(self, db: Store) -> None:
        self._db = db

    async def append(self, entry: AuditEntry) -> None:
        async with self._db.write() as conn:
            await conn.execute(
                "INSERT INTO audit (at, person, role, action, method, route, target, status)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (to_epoch(entry.at), entry.person, entry.role, entry.action, entry.method,
                 entry.route, entry.target, entry.status))

    async def between(self, start: datetime, end: datetime) -> list[AuditEntry]:
        rows = await self._db.fetch_all("SELECT * FROM audit WHERE at >= ? AND at < ? ORDER BY at,"
                                        " id", (to_epoch(start), to_epoch(end)))
        return self._db.unreadable.read("audit", rows, _entry)


def _entry(row: Row) -> AuditEntry:
    at = from_epoch(row["at"])
    assert at is not None
    return AuditEntry(at, row["person"], row["role"], row["action"], row["method"],
                      row["route"], row["target"], row["status"])


class SqliteAuditRepository(SqlAuditRepository):
    def __init__(self, db: Database) -> None:
        super().__init__(db)
