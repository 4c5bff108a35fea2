"""The two schemas say the same: every table and column SQLite's migrations end at is in
PostgreSQL's, and nothing else is (but what each engine needs of its own). A column added
to one engine's migrations and not the other's fails here, not in production."""

from __future__ import annotations

import pytest

from callcentre.storage.db import Database
from callcentre.storage.postgres.db import PgDatabase

pytestmark = pytest.mark.postgres
# SQLite's tokens are keyed by their rowid; PostgreSQL records its migrations in a table,
# and who leads the PBX when several instances share it (one SQLite file has one process)
LEADERS = ("pbx", "term", "instance", "backend_pid", "since", "renewed_at")
ONLY_POSTGRES = {("tokens", "id"), ("schema_version", "version"), ("schema_version", "name"),
                 ("calls", "term"), ("callbacks", "term"),
                 *(("pbx_leaders", column) for column in LEADERS)}


async def test_both_engines_have_the_same_tables_and_columns(
        db: Database, pg_db: PgDatabase) -> None:
    lite = {(r[0], r[1]) for r in await db.fetch_all(
        "SELECT m.name, c.name FROM sqlite_master m, pragma_table_info(m.name) c"
        " WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'")}
    pg = {(r[0], r[1]) for r in await pg_db.fetch_all(
        "SELECT table_name, column_name FROM information_schema.columns"
        " WHERE table_schema = 'public'")}
    assert sorted(pg - lite) == sorted(ONLY_POSTGRES)
    assert sorted(lite - pg) == []


async def test_both_engines_keep_the_same_tables_by_trigger(
        db: Database, pg_db: PgDatabase) -> None:
    """Each table a trigger keeps or guards in SQLite has one in PostgreSQL."""
    lite = {r[0] for r in await db.fetch_all(
        "SELECT DISTINCT tbl_name FROM sqlite_master WHERE type = 'trigger'")}
    pg = {r[0] for r in await pg_db.fetch_all(
        "SELECT DISTINCT event_object_table FROM information_schema.triggers")}
    assert lite == pg == {"calls", "callbacks", "audit"}
