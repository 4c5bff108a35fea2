"""``callcentre migrate-data``: an SQLite database copied into an empty PostgreSQL one.

Both schemas hold the same tables and columns (tests/adapters/test_postgres_schema.py);
what only PostgreSQL has (the leaders' table, the term of a write, schema_version) is not
copied, and SQLite's token rowid becomes PostgreSQL's token id. Every table is copied in
one transaction, each by one binary COPY streamed from SQLite (a foreign key within a
table, a call's ``repeat_of``, is checked at the end of its statement, so any row order
does), with the user triggers off: the kept figures (figure_days, capacity_half_hours,
callback_tallies) are copied as SQLite kept them and then recounted from the calls, which
is the check. Identity sequences are moved past the copied ids. The target must be empty:
nothing in it is overwritten (the installation row the first migration made is replaced,
so callback channel names stay those of the SQLite installation).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosqlite

from callcentre.errors import StorageError
from callcentre.storage.postgres.db import PgDatabase, Transaction

log = logging.getLogger("callcentre.storage")
ONLY_POSTGRES = frozenset({"schema_version", "pbx_leaders"})
ONLY_POSTGRES_COLUMNS = frozenset({("calls", "term"), ("callbacks", "term")})
ROWID_KEYED = frozenset({"tokens"})  # SQLite keys these by rowid, PostgreSQL by id
BATCH = 5000
Convert = Callable[[Any], Any]
_CONVERT: dict[str, Convert] = {"boolean": bool, "bigint": int, "integer": int,
                                "smallint": int, "double precision": float, "text": str,
                                "jsonb": lambda v: v if isinstance(v, str) else json.dumps(v)}


@dataclass(frozen=True)
class Copied:
    tables: dict[str, int]  # table -> rows copied


async def copy_sqlite(source: Path, target: PgDatabase) -> Copied:
    """Copy every table of the SQLite file ``source`` into ``target`` (migrated, empty)."""
    if not await asyncio.to_thread(source.is_file):
        raise StorageError(f"no SQLite database at {source}")
    async with aiosqlite.connect(f"file:{source}?mode=ro", uri=True) as lite:
        tables = await _tables(lite)
        async with target.write() as tx:
            columns = await _pg_columns(tx)
            await _refuse_unless_empty(tx, [t for t in tables if t != "installation"])
            await tx.execute("DELETE FROM installation")
            copied = {}
            for table in tables:
                copied[table] = await _copy_table(lite, tx, table, columns[table])
            await _move_sequences(tx, [t for t, n in copied.items() if n])
    return Copied(copied)


async def _tables(lite: aiosqlite.Connection) -> list[str]:
    async with lite.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name"
                            " NOT LIKE 'sqlite_%' ORDER BY name") as cursor:
        names = [str(r[0]) for r in await cursor.fetchall()]
    # people before the tokens that name them, tokens before their sessions
    first = [t for t in ("installation", "people", "tokens", "sessions") if t in names]
    return first + [t for t in names if t not in first and t not in ONLY_POSTGRES]


async def _pg_columns(tx: Transaction) -> dict[str, list[tuple[str, Convert]]]:
    rows = await tx.execute_fetchall(
        "SELECT table_name, column_name, data_type FROM information_schema.columns"
        " WHERE table_schema = 'public' ORDER BY table_name, ordinal_position")
    out: dict[str, list[tuple[str, Convert]]] = {}
    for table, column, kind in rows:
        if table not in ONLY_POSTGRES and (table, column) not in ONLY_POSTGRES_COLUMNS:
            out.setdefault(table, []).append((column, _CONVERT[kind]))
    return out


async def _refuse_unless_empty(tx: Transaction, tables: list[str]) -> None:
    for table in tables:
        rows = await tx.execute_fetchall(f"SELECT EXISTS (SELECT 1 FROM {table})")
        if rows[0][0]:
            raise StorageError(f"the PostgreSQL database is not empty (table {table} has "
                               "rows): migrate-data copies into an empty one only")


async def _copy_table(lite: aiosqlite.Connection, tx: Transaction, table: str,
                      columns: list[tuple[str, Convert]]) -> int:
    names = [c for c, _ in columns]
    picked = ", ".join("rowid AS id" if table in ROWID_KEYED and c == "id" else c
                       for c in names)
    count = 0

    async def rows() -> AsyncIterator[tuple[Any, ...]]:
        nonlocal count
        async with lite.execute(f"SELECT {picked} FROM {table}") as cursor:
            while batch := await cursor.fetchmany(BATCH):
                for row in batch:
                    count += 1
                    yield tuple(None if v is None else convert(v)
                                for v, (_, convert) in zip(row, columns, strict=True))

    await tx.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
    await tx.conn.copy_records_to_table(table, records=rows(), columns=names)
    await tx.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
    log.info("migrate-data: %s: %d rows", table, count)
    return count


async def _move_sequences(tx: Transaction, tables: list[str]) -> None:
    for table in tables:
        rows = await tx.execute_fetchall(
            "SELECT pg_get_serial_sequence(?, 'id') FROM information_schema.columns"
            " WHERE table_schema = 'public' AND table_name = ? AND column_name = 'id'"
            " AND is_identity = 'YES'", (table, table))
        if rows and rows[0][0]:
            await tx.execute(f"SELECT setval('{rows[0][0]}', (SELECT max(id) FROM {table}))")


async def count_rows(target: PgDatabase, tables: list[str]) -> dict[str, int]:
    """Rows in each of ``tables`` of ``target``, read back after the copy."""
    out = {}
    for table in tables:
        row = await target.fetch_one(f"SELECT count(*) FROM {table}")
        out[table] = int(row[0]) if row else 0
    return out
