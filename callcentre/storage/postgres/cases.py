"""Cases in PostgreSQL: storage/case_repository.py's shared statements; many cases are read
by one array each."""

from __future__ import annotations

from collections.abc import Collection

import asyncpg

from callcentre.domain.cases import Case
from callcentre.storage.case_repository import SqlCaseRepository, case_from_row
from callcentre.storage.postgres.db import PgDatabase

# latest_open_for once per number: the open case made last, one a number
_LATEST_OPEN_FOR_EACH = (
    "SELECT DISTINCT ON (phone) * FROM cases WHERE phone = ANY(?) AND status = 'open'"
    " ORDER BY phone, created_at DESC"
)


class PgCaseRepository(SqlCaseRepository):
    def __init__(self, db: PgDatabase) -> None:
        super().__init__(db)

    @staticmethod
    def _duplicate(err: BaseException | None) -> bool:
        return isinstance(err, asyncpg.UniqueViolationError)

    async def latest_open_for_each(self, phones: Collection[str]) -> dict[str, Case]:
        rows = await self._db.fetch_all(_LATEST_OPEN_FOR_EACH, (list(phones),))
        return {row["phone"]: case_from_row(row) for row in rows}

    async def get_each(self, refs: Collection[str]) -> dict[str, Case]:
        rows = await self._db.fetch_all("SELECT * FROM cases WHERE ref = ANY(?)", (list(refs),))
        return {row["ref"]: case_from_row(row) for row in rows}
