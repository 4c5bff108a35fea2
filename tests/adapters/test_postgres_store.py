"""The PostgreSQL database itself (storage/postgres/db.py): marks, migrations, the
installation id, health and errors. The repositories are in tests/contract/."""

from __future__ import annotations

import asyncpg
import pytest

from callcentre.errors import StorageError
from callcentre.storage.postgres.db import PgDatabase, numbered
from tests import postgres


def test_marks_are_numbered_outside_quotes_and_comments() -> None:
    assert numbered("SELECT ? , '?', \"a?\" -- why?\n WHERE x = ? AND y IN (?)") == (
        "SELECT $1 , '?', \"a?\" -- why?\n WHERE x = $2 AND y IN ($3)")
    assert numbered("SELECT 'it''s ?', ?") == "SELECT 'it''s ?', $1"


@pytest.mark.postgres
async def test_migrating_again_changes_nothing_and_the_id_is_the_databases_own(
        pg_cluster: postgres.Cluster) -> None:
    ids = []
    for _ in range(2):
        async with postgres.fresh_database(pg_cluster) as db:
            version = await db.migrate()
            assert version >= 2 and await db.migrate() == version
            ids.append(await db.installation_id())
            assert await db.installation_id() == ids[-1]
            await db.ping()
    assert ids[0] != ids[1] and len(ids[0]) == 8


@pytest.mark.postgres
async def test_a_failed_write_is_a_storage_error_and_leaves_nothing(pg_db: PgDatabase) -> None:
    with pytest.raises(StorageError, match="duplicate key"):
        async with pg_db.write() as tx:
            await tx.execute("INSERT INTO cases (ref, subject, status, created_at, updated_at)"
                             " VALUES (?, 's', 'open', 0, 0)", ("R-1",))
            await tx.execute("INSERT INTO cases (ref, subject, status, created_at, updated_at)"
                             " VALUES (?, 's', 'open', 0, 0)", ("R-1",))
    assert await pg_db.fetch_all("SELECT * FROM cases") == []


@pytest.mark.postgres
async def test_a_database_that_cannot_be_reached_says_so(pg_cluster: postgres.Cluster) -> None:
    db = PgDatabase(pg_cluster.dsn("no_such_database"))
    with pytest.raises(StorageError, match="cannot open database"):
        await db.open()
    with pytest.raises(StorageError, match="not open"):
        await db.fetch_all("SELECT 1")


@pytest.mark.postgres
async def test_reads_writes_and_health_recover_when_the_server_drops_every_connection(
        pg_cluster: postgres.Cluster, pg_db: PgDatabase) -> None:
    """Each connection the server dropped fails at most the one operation that meets it
    (the pool has at most five): every operation then works again."""
    await pg_db.ping()
    (name,) = await pg_db.fetch_one("SELECT current_database()")
    admin = await asyncpg.connect(pg_cluster.dsn())
    try:  # each backend gone before this returns (the second argument: wait for it)
        dropped = await admin.fetchval("SELECT count(pg_terminate_backend(pid, 10000))"
                                       " FROM pg_stat_activity WHERE datname = $1", name)
    finally:
        await admin.close()
    assert dropped >= 2  # the pool's and the health check's

    async def write() -> None:
        async with pg_db.write() as tx:
            await tx.execute("INSERT INTO cases (ref, subject, status, created_at, updated_at)"
                             " VALUES ('R-2', 's', 'open', 0, 0) ON CONFLICT DO NOTHING")

    for operation in (pg_db.ping, write, lambda: pg_db.fetch_all("SELECT 1")):
        failed = 0
        while True:
            try:
                await operation()
                break
            except StorageError:
                failed += 1
                assert failed <= 5
    assert [r["ref"] for r in await pg_db.fetch_all("SELECT ref FROM cases")] == ["R-2"]
