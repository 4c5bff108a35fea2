"""Calls in PostgreSQL: storage/call_repository.py's shared statements, and the two that
differ (a batch read back by one array, repeats looked up from arrays in one statement)."""

from __future__ import annotations

from collections.abc import Sequence

from callcentre.domain.calls import Call
from callcentre.ports import RepeatQuery
from callcentre.storage.call_repository import UPSERT, SqlCallRepository, call_from_row, row_values
from callcentre.storage.postgres.db import PgDatabase
from callcentre.storage.rows import to_epoch

# previous_from once per row of q (the same query), the answers in the queries' order
_PREVIOUS_FROM_EACH = (
    "SELECT (SELECT id FROM calls WHERE caller = q.caller AND arrived_at >= q.since"
    " AND arrived_at < q.before AND linkedid != q.excluded ORDER BY arrived_at DESC LIMIT 1)"
    " FROM unnest(?::text[], ?::float8[], ?::float8[], ?::text[])"
    " WITH ORDINALITY AS q(caller, since, before, excluded, n) ORDER BY q.n"
)


class PgCallRepository(SqlCallRepository):
    def __init__(self, db: PgDatabase) -> None:
        super().__init__(db)

    async def save(self, calls: Sequence[Call]) -> list[Call]:
        if not calls:
            return []
        async with self._db.write() as tx:
            await tx.executemany(UPSERT, [row_values(c) for c in calls])
            rows = await tx.execute_fetchall("SELECT * FROM calls WHERE linkedid = ANY(?)",
                                             ([c.linkedid for c in calls],))
        stored = {row["linkedid"]: call_from_row(row) for row in rows}
        return [stored[c.linkedid] for c in calls]

    async def previous_from_each(self, queries: Sequence[RepeatQuery]) -> list[int | None]:
        if not queries:
            return []
        rows = await self._db.fetch_all(_PREVIOUS_FROM_EACH, (
            [q.caller for q in queries], [to_epoch(q.since) for q in queries],
            [to_epoch(q.before) for q in queries], [q.exclude_linkedid for q in queries]))
        return [None if row[0] is None else int(row[0]) for row in rows]
