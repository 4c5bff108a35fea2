"""The PostgreSQL database (asyncpg): a pool of connections, numbered migrations.

The repositories write their SQL with ``?`` marks, as the SQLite ones do, so the pieces
both engines share (storage/filters.py, column lists, statements valid in both) are
written once; ``numbered()`` turns the marks into PostgreSQL's ``$1, $2 ...`` (once per
statement text). ``write()`` runs one transaction on a connection of the pool; within
one process writes are taken one at a time, as SQLite's single writer takes them, so a
repository behaves the same on both engines (several processes on one database are a
later step of #13). Reads take any free connection; ``ping()`` has a connection of its
own, so /healthz is never queued behind a report.

Times are stored as UTC epoch seconds in ``double precision``, as SQLite keeps them (see
migrations/001_schema.sql for why).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import socket
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg

from callcentre.errors import StorageError
from callcentre.storage.db import migrations
from callcentre.storage.rows import UnreadableRows, installation_id

log = logging.getLogger("callcentre.storage")
MIGRATIONS = "callcentre.storage.postgres"
_MIGRATION_LOCK = 0x63616C6C  # pg_advisory_xact_lock key: one migrating process at a time
# what a connection failing or refused raises besides PostgreSQL's own errors
# (InternalClientError: a connection the server dropped in the middle of an operation)
CONNECTION_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError,
                     OSError)
_PING_SECONDS = 5.0  # /healthz says the database does not answer after this long


@functools.lru_cache(maxsize=1024)
def numbered(sql: str) -> str:
    """``?`` marks -> ``$1, $2, ...`` (marks inside quotes and comments are left alone)."""
    out: list[str] = []
    n, quote, i = 0, "", 0
    while i < len(sql):
        ch = sql[i]
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            end = len(sql) if end < 0 else end
            out.append(sql[i:end])
            i = end
            continue
        elif ch == "?":
            n += 1
            ch = f"${n}"
        out.append(ch)
        i += 1
    return "".join(out)


class Fenced(StorageError):
    """A write refused: this instance no longer leads the PBX (another took over)."""


@dataclass(frozen=True)
class Fence:
    """The term this instance leads ``pbx`` in (storage/postgres/leadership.py): every
    write checks it is still the row's term, or, once ``revoked``, is refused outright."""

    pbx: str
    term: int
    revoked: bool = False


class Done:
    """What a statement changed: ``rowcount`` as a DB-API cursor says it."""

    def __init__(self, status: str) -> None:
        last = status.rsplit(" ", 1)[-1]
        self.rowcount = int(last) if last.isdigit() else -1


class Transaction:
    """One write transaction's connection, with the calls the repositories make (the same
    names and arguments as aiosqlite's, so shared code and tests run on either engine)."""

    def __init__(self, conn: asyncpg.Connection[Any]) -> None:
        self.conn = conn

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> Done:
        return Done(await self.conn.execute(numbered(sql), *args))

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            await self.conn.executemany(numbered(sql), rows)

    async def copy_rows(self, table: str, columns: Sequence[str],
                        rows: Iterable[Sequence[Any]]) -> None:
        """Many rows into ``table`` by COPY (binary): far faster than INSERTs."""
        await self.conn.copy_records_to_table(table, records=rows, columns=list(columns))

    async def execute_fetchall(self, sql: str,
                               args: Sequence[Any] = ()) -> list[asyncpg.Record]:
        return await self.conn.fetch(numbered(sql), *args)


class PgDatabase:
    """``dsn``: a ``postgresql://`` URL. ``size``: connections in all: a pool of
    ``size - 1`` for reads and writes, and /healthz's own. ``instance``: this process's
    name, every connection's application_name (default: host and process id)."""

    def __init__(self, dsn: str, size: int = 5, instance: str = "") -> None:
        if size < 2:
            raise ValueError("a PostgreSQL database needs at least two connections")
        self.dsn = dsn
        self.instance = (instance or default_instance())[:63]
        self.fences: dict[str, Fence] = {}  # by PBX: those this instance leads (or led)
        self.unreadable = UnreadableRows()
        self._size = size
        self._pool: asyncpg.Pool[asyncpg.Record] | None = None
        self._health: asyncpg.Connection[Any] | None = None
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        try:
            self._pool = await asyncpg.create_pool(self.dsn, min_size=1,
                                                   max_size=self._size - 1,
                                                   server_settings=self._settings())
            self._health = await asyncpg.connect(self.dsn, server_settings=self._settings())
        except CONNECTION_ERRORS as err:
            await self.close()
            raise StorageError(f"cannot open database {safe_url(self.dsn)}: {err}") from err

    async def close(self) -> None:
        """Close every connection; reads still running are cancelled with them."""
        pool, health, self._pool, self._health = self._pool, self._health, None, None
        if health is not None:
            await health.close(timeout=_PING_SECONDS)
        if pool is not None:
            pool.terminate()

    async def migrate(self) -> int:
        """Apply pending migrations, all in one transaction with the versions recorded (a
        failed one leaves the schema as it was); return the schema version. A migration
        not yet applied is applied even when a later one was (two branches numbered
        theirs apart and landed in either order)."""
        async with self.write() as tx:
            await tx.execute(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")
            await tx.execute("CREATE TABLE IF NOT EXISTS schema_version (version integer"
                             " PRIMARY KEY, name text NOT NULL)")
            rows = await tx.execute_fetchall("SELECT version FROM schema_version")
            applied = {int(r[0]) for r in rows}
            for version, name, sql in migrations(MIGRATIONS):
                if version not in applied:
                    log.info("applying migration %s", name)
                    await tx.conn.execute(sql)  # a script: several statements, no marks
                    await tx.execute("INSERT INTO schema_version (version, name) VALUES (?, ?)",
                                     (version, name))
                    applied.add(version)
        return max(applied, default=0)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[Transaction]:
        """One write transaction (rolled back on error)."""
        pool = self._require(self._pool)
        async with self._lock:
            try:
                async with pool.acquire() as conn, conn.transaction():
                    if self.fences:
                        await _check_fences(conn, list(self.fences.values()))
                    yield Transaction(conn)
            except Fenced:
                raise
            except CONNECTION_ERRORS as err:
                raise StorageError(f"database write failed: {err}") from err

    async def fetch_all(self, sql: str, args: Sequence[Any] = ()) -> list[asyncpg.Record]:
        """Every row of one read, on a free connection of the pool."""
        pool: asyncpg.Pool[asyncpg.Record] = self._require(self._pool)
        try:
            return await pool.fetch(numbered(sql), *args)
        except CONNECTION_ERRORS as err:
            raise StorageError(f"database read failed: {err}") from err

    async def fetch_one(self, sql: str, args: Sequence[Any] = ()) -> asyncpg.Record | None:
        rows = await self.fetch_all(sql, args)
        return rows[0] if rows else None

    async def installation_id(self) -> str:
        """This database's random id, stable for its lifetime."""
        return await installation_id(self)

    async def ping(self) -> None:
        """Raises StorageError when the database does not answer within _PING_SECONDS. On
        a connection of its own, opened again after the server dropped it (a restart, a
        failover): health follows the server, as the pool's connections do."""
        self._require(self._pool)
        try:
            if self._health is None:
                self._health = await asyncpg.connect(self.dsn, timeout=_PING_SECONDS,
                                                     server_settings=self._settings())
            await self._health.fetchval("SELECT 1", timeout=_PING_SECONDS)
        except (*CONNECTION_ERRORS, TimeoutError) as err:
            if self._health is not None:  # whatever state it is in: the next ping opens anew
                self._health.terminate()
                self._health = None
            raise StorageError(f"database does not answer: {err}") from err

    def _settings(self) -> dict[str, str]:
        return {"application_name": self.instance}

    def _require(self, thing: Any) -> Any:
        if thing is None:
            raise StorageError("database is not open")
        return thing


async def _check_fences(conn: asyncpg.Connection[Any], fences: list[Fence]) -> None:
    """Refuse the write unless every PBX this instance led still is (a deposed instance
    stops whole). FOR SHARE: a takeover (which updates the row) waits for writes in
    flight, and every write after it sees the new term."""
    for fence in fences:
        if fence.revoked:
            raise Fenced(f"write refused: this instance no longer leads PBX {fence.pbx}")
    rows = await conn.fetch("SELECT pbx, term FROM pbx_leaders WHERE pbx = ANY($1::text[])"
                            " FOR SHARE", [f.pbx for f in fences])
    terms = {r["pbx"]: r["term"] for r in rows}
    for fence in fences:
        if terms.get(fence.pbx) != fence.term:
            raise Fenced(f"write refused: PBX {fence.pbx} is led in term "
                         f"{terms.get(fence.pbx)} now, not this instance's {fence.term}")
    # stored with the rows it writes (migrations/008_pbx_leaders.sql): the first PBX led
    await conn.execute("SELECT set_config('callcentre.term', $1, true)", str(fences[0].term))


def default_instance() -> str:
    """This process's name among several: host and process id."""
    return f"callcentre@{socket.gethostname()}:{os.getpid()}"


def safe_url(dsn: str) -> str:
    """The URL without its password, for messages."""
    scheme, sep, rest = dsn.partition("://")
    if "@" not in rest:
        return dsn
    creds, _, host = rest.rpartition("@")
    return f"{scheme}{sep}{creds.split(':', 1)[0]}@{host}"
