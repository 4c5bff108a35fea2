"""Residents' personal data in PostgreSQL: storage/retention_repository.py's purge, export and
erasure, with its statements in PostgreSQL's words (jsonb for the JSON columns, strpos for
SQLite's instr). The conditions stay word for word the partial indexes' of
migrations/004_retention_indexes.sql: change both."""

from __future__ import annotations

from typing import Any

from callcentre.domain.retention import Kind
from callcentre.storage.postgres.db import PgDatabase
from callcentre.storage.retention_repository import (
    _AGE,
    _ANONYMISE,
    _OF_NUMBER,
    _PERSONAL,
    SqlRetentionRepository,
)

# a note or reason in each element of a JSON array column set to null, the order kept
_BLANK_IN_EACH = ("(SELECT coalesce(jsonb_agg(jsonb_set(e.value, '{{{key}}}', 'null')"
                  " ORDER BY e.n), '[]') FROM jsonb_array_elements({column})"
                  " WITH ORDINALITY AS e (value, n))")


class PgRetentionRepository(SqlRetentionRepository):
    _PERSONAL = {
        **_PERSONAL,
        Kind.LEDGER_LINES: "event = 'ENTERQUEUE' AND strpos(data, '|') > 0"
                           " AND substr(data, strpos(data, '|') + 1, 1) NOT IN ('', '|')",
    }
    _ANONYMISE = {
        **_ANONYMISE,
        Kind.CALLBACKS: "UPDATE callbacks SET phone = '', reason = '', case_ref = NULL,"
                        " attempts = " + _BLANK_IN_EACH.format(key="note", column="attempts")
                        + ", history = " + _BLANK_IN_EACH.format(key="reason", column="history"),
    }
    _OF_NUMBER = {
        **_OF_NUMBER,
        Kind.CASES: "SELECT * FROM cases WHERE phone = $1 OR ref IN (SELECT case_ref FROM calls"
                    " WHERE caller = $1) OR ref IN (SELECT case_ref FROM callbacks WHERE"
                    " phone = $1) ORDER BY ref",
    }
    _LINES_OF_CALLS = ("SELECT id, event, data FROM ledger_lines WHERE event = 'ENTERQUEUE'"
                       " AND callid = ANY(?)")
    # without SQLite's unary + (which keeps SQLite off the status indexes): PostgreSQL's
    # planner weighs the partial indexes itself, and has no + for text
    _AGE = {kind: (table, age, allowed.lstrip("+")) for kind, (table, age, allowed)
            in _AGE.items()}

    def __init__(self, db: PgDatabase) -> None:
        super().__init__(db)

    @staticmethod
    def _callids(linkedids: list[str]) -> Any:
        return linkedids
