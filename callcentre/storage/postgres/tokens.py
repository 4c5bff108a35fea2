"""People, tokens and sessions in PostgreSQL: storage/token_repository.py's statements, with
the token's own id column and PostgreSQL's unique-violation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from callcentre.storage.postgres.db import PgDatabase, Transaction
from callcentre.storage.token_repository import SqlTokenRepository


class PgTokenRepository(SqlTokenRepository):
    _ID = "id"
    _TAKEN = (asyncpg.UniqueViolationError,)

    def __init__(self, db: PgDatabase) -> None:
        super().__init__(db)

    @staticmethod
    async def _insert(conn: Any, sql: str, args: Sequence[Any]) -> int:
        tx: Transaction = conn
        rows = await tx.execute_fetchall(f"{sql} RETURNING id", args)
        return int(rows[0][0])
