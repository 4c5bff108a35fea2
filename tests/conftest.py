"""Session-wide: the shifted clock of a ``./dev test-at`` / ``./dev clock-shifts`` run, and
the one real database fixture."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from callcentre.storage.db import Database
from tests import clock


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
