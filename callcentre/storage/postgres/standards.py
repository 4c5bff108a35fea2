"""The standards report's per-day figures in PostgreSQL: storage/standards_repository.py's
statements, with the recount summed from call_figures() (migrations/002_figure_days.sql),
the one statement of what a call adds that the trigger uses too."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from callcentre.storage.postgres.db import PgDatabase, Transaction
from callcentre.storage.standards_repository import SqlStandardsRepository

_RECOUNT = """
SELECT f.queue, f.day, f.outcome, f.bucket, SUM(f.n)::integer AS n,
       SUM(f.wait_us)::bigint AS wait_us, SUM(f.repeats)::integer AS repeats,
       SUM(f.ooh)::integer AS ooh, SUM(f.checked)::integer AS checked,
       SUM(f.corrected)::integer AS corrected
FROM calls c CROSS JOIN LATERAL call_figures(c, 1) f
GROUP BY f.queue, f.day, f.outcome, f.bucket
"""


class PgStandardsRepository(SqlStandardsRepository):
    _RECOUNT = _RECOUNT
    _TEMP = "pg_temp.recount"

    def __init__(self, db: PgDatabase) -> None:
        super().__init__(db)

    @staticmethod
    async def _write_local_days(conn: Any, days: Iterable[tuple[float, str]]) -> None:
        tx: Transaction = conn
        await tx.copy_rows("local_days", ("start", "day"), days)
