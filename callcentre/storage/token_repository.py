"""All SQL about API tokens (stored hashed; see web/auth.py)."""

from __future__ import annotations

from callcentre.ports import Token
from callcentre.storage.db import Database, from_epoch, to_epoch


class SqliteTokenRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, token_hash: str, token: Token) -> None:
        async with self._db.write() as conn:
            await conn.execute(
                "INSERT INTO tokens (hash, name, role, created_at) VALUES (?, ?, ?, ?)",
                (token_hash, token.name, token.role, to_epoch(token.created_at)))

    async def find(self, token_hash: str) -> Token | None:
        row = await self._db.fetch_one("SELECT * FROM tokens WHERE hash = ?", (token_hash,))
        if row is None:
            return None
        created = from_epoch(row["created_at"])
        assert created is not None
        return Token(row["name"], row["role"], created)
