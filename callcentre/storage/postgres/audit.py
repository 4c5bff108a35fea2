"""The audit trail in PostgreSQL: storage/audit_repository.py's statements as they are
(migrations/001_schema.sql's trigger keeps it append-only)."""

from __future__ import annotations

from callcentre.storage.audit_repository import SqlAuditRepository
from callcentre.storage.postgres.db import PgDatabase


class PgAuditRepository(SqlAuditRepository):
    def __init__(self, db: PgDatabase) -> None:
        super().__init__(db)
