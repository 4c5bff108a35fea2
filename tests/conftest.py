"""Session-wide: the shifted clock of a ``./dev test-at`` / ``./dev clock-shifts`` run, the
one real SQLite database fixture, and the PostgreSQL cluster (tests/postgres.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import asyncpg
import pytest

from callcentre.storage.db import Database
from callcentre.storage.postgres.db import PgDatabase
from tests import clock, postgres


def pytest_configure(config: pytest.Config) -> None:
    traveller = clock.start()
    if traveller is not None:
        config.add_cleanup(traveller.stop)


def pytest_report_header() -> str | None:
    offset = clock.shift()
    return f"clock shifted by {offset:+.0f} s ({clock.ENV})" if offset else None


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    """A migrated SQLite database in a file of its own (never a mocked database)."""
    database = Database(tmp_path / "cc.sqlite3")
    await database.open()
    await database.migrate()
    yield database
    await database.close()


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[postgres.Cluster]:
    """One throwaway PostgreSQL cluster for the session, with a migrated template database."""
    if postgres.bin_dir() is None:
        pytest.skip("PostgreSQL is not installed (/usr/lib/postgresql/N/bin/initdb): "
                    "tests/system-deps.sh installs Debian's postgresql package as root")
    with postgres.cluster() as running:
        # in a thread of its own: the first test to ask may be running an event loop already
        with ThreadPoolExecutor(1) as thread:
            thread.submit(asyncio.run, _make_template(running)).result()
        yield running


async def _make_template(running: postgres.Cluster) -> None:
    admin = await asyncpg.connect(running.dsn())
    try:
        await admin.execute(f"CREATE DATABASE {postgres.TEMPLATE}")
    finally:
        await admin.close()
    template = PgDatabase(running.dsn(postgres.TEMPLATE))
    await template.open()
    try:
        await template.migrate()
    finally:
        await template.close()


@pytest.fixture
async def pg_db(pg_cluster: postgres.Cluster) -> AsyncIterator[PgDatabase]:
    """A migrated PostgreSQL database of the test's own."""
    async with postgres.fresh_database(pg_cluster) as database:
        yield database
