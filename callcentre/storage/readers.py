"""A small pool of read connections: each read takes a free one, so a long report holds one
connection and the others keep answering (WAL lets readers run beside each other and
beside the writer).

Waiting for a connection is an ``asyncio.Queue`` get (first come, first served, no
polling). A read whose caller is cancelled (a client gone, a stop) interrupts its
statement, and its connection goes back to the pool only once SQLite has let go of it,
so the next read never queues behind work nobody waits for.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

import aiosqlite


class ReaderPool:
    def __init__(self, connections: Sequence[aiosqlite.Connection]) -> None:
        self.size = len(connections)
        self._free: asyncio.Queue[aiosqlite.Connection] = asyncio.Queue()
        for conn in connections:
            self._free.put_nowait(conn)

    @property
    def free(self) -> int:
        """Connections not running a read now."""
        return self._free.qsize()

    async def fetch_all(self, sql: str, args: Sequence[Any]) -> list[sqlite3.Row]:
        """Every row of one statement, on the first connection free (raises sqlite3.Error)."""
        conn = await self._free.get()
        job = asyncio.ensure_future(conn.execute_fetchall(sql, args))
        job.add_done_callback(lambda done: self._give_back(conn, done))
        try:
            rows: Iterable[sqlite3.Row] = await asyncio.shield(job)
        except asyncio.CancelledError:
            with contextlib.suppress(ValueError, sqlite3.Error):  # already closed
                await conn.interrupt()
            raise
        return list(rows)

    def _give_back(self, conn: aiosqlite.Connection, job: asyncio.Future[Any]) -> None:
        if not job.cancelled():
            job.exception()  # retrieved here when the caller was cancelled and left
        self._free.put_nowait(conn)
