"""A small pool of read connections: each read takes a free one, so a long report holds one
connection and the others keep answering (WAL lets readers run beside each other and
beside the writer).

Waiting for a connection is an ``asyncio`` queue get (waiters served first come, first
served, no polling); the free connections are a stack, so a quiet service reads on the one
connection used last, its cache warm, and the others only take the overflow.

A read whose caller is cancelled (a client gone, a stop) is interrupted, and its connection
goes back to the pool only once SQLite has let go of it, so the next read never queues
behind work nobody waits for. SQLite's interrupt stops only a statement already running,
so it is sent again until the statement ends (one sent before the connection's thread has
started it would be lost). ``stop()`` does the same for every read still running.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

import aiosqlite

_INTERRUPT_AGAIN = 0.05  # seconds between interrupts of a statement that has not ended


class ReaderPool:
    def __init__(self, connections: Sequence[aiosqlite.Connection]) -> None:
        self.size = len(connections)
        self._free: asyncio.LifoQueue[aiosqlite.Connection] = asyncio.LifoQueue()
        for conn in connections:
            self._free.put_nowait(conn)
        self._running: dict[aiosqlite.Connection, asyncio.Future[Any]] = {}
        self._stopping: set[asyncio.Task[None]] = set()

    @property
    def free(self) -> int:
        """Connections not running a read now."""
        return self._free.qsize()

    async def fetch_all(self, sql: str, args: Sequence[Any]) -> list[sqlite3.Row]:
        """Every row of one statement, on the first connection free (raises sqlite3.Error)."""
        conn = await self._free.get()
        job = asyncio.ensure_future(conn.execute_fetchall(sql, args))
        self._running[conn] = job
        job.add_done_callback(lambda done: self._give_back(conn, done))
        try:
            rows: Iterable[sqlite3.Row] = await asyncio.shield(job)
        except asyncio.CancelledError:
            self._interrupt(conn, job)
            raise
        return list(rows)

    async def stop(self) -> None:
        """Interrupt every read still running and wait until each has ended."""
        running = list(self._running.items())
        for conn, job in running:
            self._interrupt(conn, job)
        if running:
            await asyncio.wait([job for _, job in running])

    def _interrupt(self, conn: aiosqlite.Connection, job: asyncio.Future[Any]) -> None:
        task = asyncio.ensure_future(_until_ended(conn, job))
        self._stopping.add(task)
        task.add_done_callback(self._stopping.discard)

    def _give_back(self, conn: aiosqlite.Connection, job: asyncio.Future[Any]) -> None:
        if not job.cancelled():
            job.exception()  # retrieved here when the caller was cancelled and left
        self._running.pop(conn, None)
        self._free.put_nowait(conn)


async def _until_ended(conn: aiosqlite.Connection, job: asyncio.Future[Any]) -> None:
    while not job.done():
        with contextlib.suppress(ValueError, sqlite3.Error):  # ValueError: already closed
            await conn.interrupt()
        await asyncio.wait([job], timeout=_INTERRUPT_AGAIN)
