"""What every storage engine shares about rows: times as UTC epoch seconds, the row shape the
converters read (SQLite's ``sqlite3.Row`` and asyncpg's ``Record`` alike), and the rows left
out because a stored value cannot be read."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from callcentre.domain.ratelimit import LogBudget
from callcentre.errors import StorageError, UnreadableRecord

log = logging.getLogger("callcentre.storage")
T = TypeVar("T")
# what reading a bad stored value raises: out-of-range times, bad JSON or enum values,
# missing values a reader asserts
BAD_VALUE = (ValueError, OverflowError, TypeError, KeyError, AssertionError)


class Row(Protocol):
    """A stored row, read by column name or position."""

    def __getitem__(self, key: int | str, /) -> Any: ...

    def keys(self) -> Iterable[str]: ...


def to_epoch(value: datetime | None) -> float | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime: times must be timezone-aware")
    return value.timestamp()


def from_epoch(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


class UnreadableRows:
    """Rows skipped because a stored value cannot be read: counted per table, logged once a
    minute per table with the row's key and the error."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self._budget = LogBudget(60.0)

    def read(self, table: str, rows: Iterable[Row], convert: Callable[[Any], T]) -> list[T]:
        """Every row ``convert`` can read; the others are reported and left out."""
        out = []
        for row in rows:
            try:
                out.append(convert(row))
            except BAD_VALUE as err:
                self._report(table, row, err)
        return out

    def one(self, table: str, row: Row, convert: Callable[[Any], T]) -> T:
        try:
            return convert(row)
        except BAD_VALUE as err:
            self._report(table, row, err)
            raise UnreadableRecord(f"{table} row {_key(row)} is stored with a value that "
                                   "cannot be read (reported in the log); it needs repair") from err

    def _report(self, table: str, row: Row, err: Exception) -> None:
        self.counts[table] = self.counts.get(table, 0) + 1
        held = self._budget.allow(table, time.monotonic())
        if held is not None:
            log.error("skipped unreadable %s row %s: %s: %s (%d more skipped since the last "
                      "report)", table, _key(row), type(err).__name__, err, held)


def _key(row: Row) -> str:
    return str(row["id"]) if "id" in list(row.keys()) else "?"


class Store(Protocol):
    """What the repositories both engines share ask of a database (storage/db.py Database,
    storage/postgres/db.py PgDatabase): ``?``-marked SQL, one write transaction at a time."""

    unreadable: UnreadableRows

    def write(self) -> AbstractAsyncContextManager[Any]: ...

    async def fetch_all(self, sql: str, args: Sequence[Any] = ()) -> Sequence[Any]: ...

    async def fetch_one(self, sql: str, args: Sequence[Any] = ()) -> Any: ...


async def installation_id(db: Store) -> str:
    """The database's random id (SQLite migration 004, PostgreSQL 001), stable for its
    lifetime."""
    row = await db.fetch_one("SELECT uid FROM installation WHERE id = 1")
    if row is None:
        raise StorageError("database has no installation id; run callcentre migrate")
    return str(row[0])
