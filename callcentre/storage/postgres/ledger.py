"""The queue_log ledger in PostgreSQL: storage/ledger_repository.py's statements as they are
(each written to be valid in both engines)."""

from __future__ import annotations

from callcentre.storage.ledger_repository import SqlLedgerRepository
from callcentre.storage.postgres.db import PgDatabase


class PgLedgerRepository(SqlLedgerRepository):
    def __init__(self, db: PgDatabase) -> None:
        super().__init__(db)
