"""Callbacks in PostgreSQL: storage/callback_repository.py's statements (attempts and history
as jsonb, passed as the same JSON text), the new id by RETURNING."""

from __future__ import annotations

from typing import Any

import asyncpg

from callcentre.storage.callback_repository import INSERT, SqlCallbackRepository
from callcentre.storage.postgres.db import PgDatabase, Transaction


class PgCallbackRepository(SqlCallbackRepository):
    _TAKEN = (asyncpg.UniqueViolationError,)

    def __init__(self, db: PgDatabase) -> None:
        super().__init__(db)

    @staticmethod
    async def _insert(conn: Any, values: tuple[Any, ...]) -> int:
        tx: Transaction = conn
        rows = await tx.execute_fetchall(f"{INSERT} RETURNING id", values)
        return int(rows[0][0])
