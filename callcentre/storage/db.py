"""The SQLite database: one writer connection (WAL), one reader, numbered migrations.

All writes go through ``Database.write()``, which serialises transactions on the
single writer connection; reads use a second connection so the API never waits
behind a batch of call updates.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from callcentre.domain.ratelimit import LogBudget
from callcentre.errors import StorageError, UnreadableRecord

log = logging.getLogger("callcentre.storage")
T = TypeVar("T")
# what reading a bad stored value raises: out-of-range times, bad JSON or enum values,
# missing values a reader asserts
BAD_VALUE = (ValueError, OverflowError, TypeError, KeyError, AssertionError)


def migrations() -> list[tuple[int, str, str]]:
    """(version, name, sql) for every ``migrations/NNN_name.sql``, in order."""
    found = []
    for item in resources.files("callcentre.storage").joinpath("migrations").iterdir():
        if item.name.endswith(".sql"):
            version = int(item.name.split("_", 1)[0])
            found.append((version, item.name, item.read_text(encoding="utf-8")))
    return sorted(found)


def to_epoch(value: datetime | None) -> float | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime: times must be timezone-aware")
    return value.timestamp()


def from_epoch(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


class UnreadableRows:
    """Rows skipped because a stored value cannot be read: counted per table, logged once a
    minute per table with the row's key and the error."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self._budget = LogBudget(60.0)

    def read(self, table: str, rows: Iterable[sqlite3.Row],
             convert: Callable[[sqlite3.Row], T]) -> list[T]:
        """Every row ``convert`` can read; the others are reported and left out."""
        out = []
        for row in rows:
            try:
                out.append(convert(row))
            except BAD_VALUE as err:
                self._report(table, row, err)
        return out

    def one(self, table: str, row: sqlite3.Row, convert: Callable[[sqlite3.Row], T]) -> T:
        try:
            return convert(row)
        except BAD_VALUE as err:
            self._report(table, row, err)
            raise UnreadableRecord(f"{table} row {_key(row)} is stored with a value that "
                                   "cannot be read (reported in the log); it needs repair") from err

    def _report(self, table: str, row: sqlite3.Row, err: Exception) -> None:
        self.counts[table] = self.counts.get(table, 0) + 1
        held = self._budget.allow(table, time.monotonic())
        if held is not None:
            log.error("skipped unreadable %s row %s: %s: %s (%d more skipped since the last "
                      "report)", table, _key(row), type(err).__name__, err, held)


def _key(row: sqlite3.Row) -> str:
    keys = row.keys()
    return str(row["id"]) if "id" in keys else "?"


class Database:
    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self.unreadable = UnreadableRows()
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._writer = await self._connect()
            await self._writer.execute_fetchall("PRAGMA journal_mode=WAL")
            self._reader = await self._connect() if self.path != ":memory:" else self._writer
        except (sqlite3.Error, OSError) as err:
            raise StorageError(f"cannot open database {self.path}: {err}") from err

    async def _connect(self) -> aiosqlite.Connection:
        conn = await aiosqlite.connect(self.path, isolation_level=None)
        conn.row_factory = sqlite3.Row
        await conn.execute("PRAGMA foreign_keys=ON")
        await conn.execute("PRAGMA busy_timeout=5000")
        await conn.execute("PRAGMA synchronous=NORMAL")  # WAL: durable at checkpoint, safe on crash
        return conn

    async def close(self) -> None:
        for conn in {id(c): c for c in (self._reader, self._writer) if c is not None}.values():
            await conn.close()
        self._writer = self._reader = None

    async def migrate(self) -> int:
        """Apply pending migrations; return the schema version."""
        async with self.write() as conn:
            rows = list(await conn.execute_fetchall("PRAGMA user_version"))
            current = int(rows[0][0]) if rows else 0
            for version, name, sql in migrations():
                if version > current:
                    log.info("applying migration %s", name)
                    for statement in _statements(sql):
                        await conn.execute(statement)
                    await conn.execute(f"PRAGMA user_version={version:d}")
                    current = version
        return current

    @asynccontextmanager
    async def write(self) -> AsyncIterator[aiosqlite.Connection]:
        """One write transaction on the single writer connection (rolled back on error)."""
        conn = self._require(self._writer)
        async with self._lock:
            try:
                await conn.execute("BEGIN IMMEDIATE")
                yield conn
                await conn.execute("COMMIT")
            except sqlite3.Error as err:
                await _rollback(conn)
                raise StorageError(f"database write failed: {err}") from err
            except BaseException:
                await _rollback(conn)
                raise

    async def fetch_all(self, sql: str, args: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """Run a read on the reader connection. Rows are fetched whole, so the statement
        is finished at once and never pins an old WAL snapshot."""
        try:
            return list(await self._require(self._reader).execute_fetchall(sql, args))
        except sqlite3.Error as err:
            raise StorageError(f"database read failed: {err}") from err

    async def fetch_one(self, sql: str, args: Sequence[Any] = ()) -> sqlite3.Row | None:
        rows = await self.fetch_all(sql, args)
        return rows[0] if rows else None

    async def installation_id(self) -> str:
        """This database's random id (migration 004), stable for its lifetime."""
        row = await self.fetch_one("SELECT uid FROM installation WHERE id = 1")
        if row is None:
            raise StorageError("database has no installation id; run callcentre migrate")
        return str(row[0])

    async def ping(self) -> None:
        """Raises StorageError when the database does not answer."""
        await self.fetch_one("SELECT 1")

    def _require(self, conn: aiosqlite.Connection | None) -> aiosqlite.Connection:
        if conn is None:
            raise StorageError("database is not open")
        return conn


async def _rollback(conn: aiosqlite.Connection) -> None:
    try:
        await conn.execute("ROLLBACK")
    except sqlite3.Error:
        log.debug("rollback after a failed write also failed", exc_info=True)


def _statements(sql: str) -> list[str]:
    """Split a migration into statements: at each ';' that ends one (a trigger's body holds
    several); comments are dropped."""
    lines = [line.split("--", 1)[0] for line in sql.splitlines()]
    out, pending = [], ""
    for piece in "\n".join(lines).split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \n;"):
                out.append(pending.strip().rstrip(";"))
            pending = ""
    return out
