"""``callcentre migrate-data``: a council's SQLite database copied into PostgreSQL, checked
by counts and a recount of the figures; the same answers read from either afterwards."""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path

import pytest

from callcentre.__main__ import main
from callcentre.ports import CallbackQuery, CallQuery
from callcentre.storage.engines import Repositories, repositories
from tests import postgres
from tests.adapters.test_postgres_serve import empty_database
from tests.contract.test_callback_repository import a_callback
from tests.contract.test_standards_repository import random_calls

pytestmark = pytest.mark.postgres


async def _fill(path: Path) -> None:
    stores = repositories(str(path), 1)
    await stores.db.open()
    try:
        await stores.db.migrate()
        await stores.calls.save(random_calls(300, seed=3))  # repeats refer to call 1
        async with stores.db.write() as conn:  # a wait whose microseconds, as a double, are
            # 1440680919.4999998: PostgreSQL once rounded it up through numeric (15 digits)
            await conn.execute("UPDATE calls SET wait_seconds = 1440.6809194999998,"
                               " talk_seconds = 1440.6809194999998 WHERE outcome IN"
                               " ('answered', 'abandoned')")
        for phone in ("+447700900123", "+447700900456"):
            await stores.callbacks.add(a_callback(phone))
    finally:
        await stores.db.close()


async def _read(db: str) -> tuple[object, ...]:
    stores: Repositories = repositories(db, 1)
    await stores.db.open()
    try:
        calls = (await stores.calls.find(CallQuery(limit=500))).items
        callbacks = (await stores.callbacks.find(CallbackQuery(limit=50))).items
        figures = await stores.standards.figures(date(2026, 1, 1), date(2027, 1, 1), None)
        uid = await stores.db.installation_id()
        tokens = [(t.id, t.name, t.role) for t in await stores.tokens.all()]
    finally:
        await stores.db.close()
    return calls, callbacks, figures, uid, tokens


def test_an_sqlite_database_copied_into_postgresql_reads_the_same(
        tmp_path: Path, pg_cluster: postgres.Cluster,
        capsys: pytest.CaptureFixture[str]) -> None:
    lite = tmp_path / "cc.sqlite3"
    asyncio.run(_fill(lite))
    for name in ("Ann", "Bo"):  # tokens: SQLite keys them by rowid, PostgreSQL by id
        assert main(["--set", f"db={lite}", "token", "create", "--role", "agent",
                     "--name", name]) == 0
    url = asyncio.run(empty_database(pg_cluster))
    capsys.readouterr()

    assert main(["--set", f"db={url}", "migrate-data", str(lite)]) == 0
    out = capsys.readouterr().out
    assert "every count and figure agrees" in out and "calls" in out
    assert "figures: 0 of" in out
    assert asyncio.run(_read(url)) == asyncio.run(_read(str(lite)))

    # into a database that is not empty: refused, nothing changed
    assert main(["--set", f"db={url}", "migrate-data", str(lite)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert asyncio.run(_read(url)) == asyncio.run(_read(str(lite)))


def test_migrate_data_needs_a_postgresql_target_and_an_sqlite_source(
        tmp_path: Path, pg_cluster: postgres.Cluster,
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--set", f"db={tmp_path / 'x.sqlite3'}", "migrate-data", "y"]) == 2
    assert "postgresql://" in capsys.readouterr().err
    url = asyncio.run(empty_database(pg_cluster))
    assert main(["--set", f"db={url}", "migrate-data", str(tmp_path / "missing")]) == 2
    assert "no SQLite database" in capsys.readouterr().err
