"""Callback figures in PostgreSQL: storage/callback_figures_repository.py's reads, with the
counters migrations/003_callback_tallies.sql keeps, and counts by FILTER (PostgreSQL does not
sum booleans). The same columns in the same order as SQLite's statements."""

from __future__ import annotations

from callcentre.storage.callback_figures_repository import SURVEYED, SqlCallbackFigures
from callcentre.storage.postgres.db import PgDatabase

# $1 now, $2 the end of the at-risk margin, $3 an hour from now
_COUNTS = (
    "SELECT figure, label, n::bigint, 0::bigint, 0::bigint, 0::bigint FROM callback_tallies"
    " WHERE n != 0 "
    "UNION ALL "
    "SELECT 'open', status, COUNT(*), COUNT(*) FILTER (WHERE due_by < $1), "
    "COUNT(*) FILTER (WHERE due_by >= $1 AND due_by < $2 AND attempt_count = 0), "
    "COUNT(*) FILTER (WHERE due_by >= $1 AND due_by < $3) "
    "FROM callbacks WHERE status != 'closed' GROUP BY status")
_DUE = ("SELECT result, COUNT(*), COUNT(*) FILTER (WHERE extensions > 0), "
        "COUNT(*) FILTER (WHERE result = 'missed' AND first_attempt_in_time = 1) "
        "FROM callbacks WHERE due_by >= ? AND due_by < ?{site} GROUP BY result")


class PgCallbackFigures(SqlCallbackFigures):
    _COUNTS = _COUNTS
    _DUE = _DUE
    _SURVEYED = SURVEYED.replace("{offered}", "survey_offered")

    def __init__(self, db: PgDatabase) -> None:
        super().__init__(db)
