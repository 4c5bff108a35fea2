"""Fixtures shared by the contract suites."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from callcentre.storage.db import Database


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    """A migrated SQLite database in a file of its own (never a mocked database)."""
    database = Database(tmp_path / "cc.sqlite3")
    await database.open()
    await database.migrate()
    yield database
    await database.close()
