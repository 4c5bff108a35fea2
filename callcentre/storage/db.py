"""The SQLite database: one writer connection (WAL), a pool of readers, numbered migrations.

All writes go through ``Database.write()``, which serialises transactions on the
single writer connection. Reads take a free connection from a small pool
(storage/readers.py), so the API never waits behind a batch of call updates, and a long
report holds one reader while the others keep answering. ``ping()`` (what /healthz
asks) has a connection of its own that no other read uses: health is never queued
behind a report. A ``:memory:`` database is private to its connection, so there every
read and the ping share the writer.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any

import aiosqlite

from callcentre.errors import StorageError
from callcentre.storage.readers import ReaderPool
from callcentre.storage.rows import (
    BAD_VALUE,
    UnreadableRows,
    from_epoch,
    installation_id,
    to_epoch,
)

log = logging.getLogger("callcentre.storage")


def migrations(package: str = "callcentre.storage") -> list[tuple[int, str, str]]:
    """(version, name, sql) for every ``migrations/NNN_name.sql`` of ``package``, in order."""
    found = []
    for item in resources.files(package).joinpath("migrations").iterdir():
        if item.name.endswith(".sql"):
            version = int(item.name.split("_", 1)[0])
            found.append((version, item.name, item.read_text(encoding="utf-8")))
    return sorted(found)


class Database:
    # readers: the service passes config.py's db_readers; 4 here for commands, tests, benches
    def __init__(self, path: str | Path, readers: int = 4) -> None:
        if readers < 1:
            raise ValueError("a database needs at least one reader connection")
        self.path = str(path)
        self.unreadable = UnreadableRows()
        self._writer: aiosqlite.Connection | None = None
        self._readers = readers
        self._pool: ReaderPool | None = None
        self._health: aiosqlite.Connection | None = None  # ping()'s own: never behind a report
        self._opened: list[aiosqlite.Connection] = []
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._writer = await self._connect()
            self._opened.append(self._writer)
            await self._writer.execute_fetchall("PRAGMA journal_mode=WAL")
            if self.path == ":memory:":
                readers, self._health = [self._writer], self._writer
            else:
                readers = [await self._read_only() for _ in range(self._readers)]
                self._health = await self._read_only()
            self._pool = ReaderPool(readers)
        except (sqlite3.Error, OSError) as err:
            await self.close()
            raise StorageError(f"cannot open database {self.path}: {err}") from err

    async def _read_only(self) -> aiosqlite.Connection:
        conn = await self._connect()
        self._opened.append(conn)
        await conn.execute("PRAGMA query_only=ON")  # a read connection never writes
        return conn

    async def _connect(self) -> aiosqlite.Connection:
        conn = await aiosqlite.connect(self.path, isolation_level=None)
        conn.row_factory = sqlite3.Row
        await conn.execute("PRAGMA foreign_keys=ON")
        await conn.execute("PRAGMA busy_timeout=5000")
        await conn.execute("PRAGMA synchronous=NORMAL")  # WAL: durable at checkpoint, safe on crash
        return conn

    async def close(self) -> None:
        """Close every connection; reads still running are interrupted first, so a stop
        never waits for a report to finish."""
        opened, pool, self._opened = self._opened, self._pool, []
        self._writer = self._health = self._pool = None
        if pool is not None:
            await pool.stop()
        for conn in opened:
            await conn.close()

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
        """Run a read on a free reader connection (waiting for one if all are busy). Rows
        are fetched whole, so the statement is finished at once and never pins an old WAL
        snapshot."""
        if self._pool is None:
            raise StorageError("database is not open")
        try:
            return await self._pool.fetch_all(sql, args)
        except sqlite3.Error as err:
            raise StorageError(f"database read failed: {err}") from err

    async def fetch_one(self, sql: str, args: Sequence[Any] = ()) -> sqlite3.Row | None:
        rows = await self.fetch_all(sql, args)
        return rows[0] if rows else None

    async def installation_id(self) -> str:
        """This database's random id, stable for its lifetime."""
        return await installation_id(self)

    @property
    def readers_free(self) -> int:
        """Reader connections not running a read now (0 when closed)."""
        return self._pool.free if self._pool is not None else 0

    async def ping(self) -> None:
        """Raises StorageError when the database does not answer. On its own connection:
        it never waits for a free reader, so /healthz answers while reports run."""
        try:  # reads the file's header: a read transaction, not just a live connection
            await self._require(self._health).execute_fetchall("PRAGMA user_version")
        except (sqlite3.Error, ValueError) as err:  # ValueError: aiosqlite's closed connection
            raise StorageError(f"database does not answer: {err}") from err

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


__all__ = ["BAD_VALUE", "Database", "UnreadableRows", "from_epoch", "migrations", "to_epoch"]
