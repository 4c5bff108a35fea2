"""The engines the contract suites run on besides the in-memory fakes: a fixture
parametrised by ``ENGINES`` gets every repository on a migrated database of its own."""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from callcentre.storage.db import Database
from callcentre.storage.engines import Repositories, repositories_on
from tests import postgres

ENGINES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


async def stores_for(request: pytest.FixtureRequest, stack: AsyncExitStack,
                     tmp_path: Path) -> Repositories:
    """The repositories of the engine ``request.param`` names (an SQLite file in
    ``tmp_path``, or a copy of the PostgreSQL template), closed with ``stack``."""
    if request.param == "postgres":
        return repositories_on(await postgres.pg_database_for(request, stack))
    db = Database(tmp_path / "cc.sqlite3")
    await db.open()
    stack.push_async_callback(db.close)
    await db.migrate()
    return repositories_on(db)
