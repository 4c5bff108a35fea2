"""What other instances on the same PostgreSQL database changed: LISTEN on the channel the
callbacks' trigger NOTIFYs on commit (migrations/011_callback_notices.sql).

One connection of its own listens. Notices are delivered only while it is connected; when
it drops (a server restart, a network blink) the listener connects again and says that
some may have been missed (``missed``), so the caller reloads what it keeps instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from callcentre.storage.postgres.db import CONNECTION_ERRORS, PgDatabase

log = logging.getLogger("callcentre.storage")
CHANNEL = "callcentre_callbacks"
RETRY_SECONDS = 1.0


class PgNotices:
    def __init__(self, db: PgDatabase, check_every: float = 1.0) -> None:
        self._db = db
        self._check_every = check_every
        self.heard = 0  # notices from other instances, since start

    async def listen(self, changed: Callable[[int], Awaitable[None]],
                     missed: Callable[[], Awaitable[None]]) -> None:
        """Until cancelled: ``changed(id)`` for each callback another instance changed;
        ``missed()`` after every reconnect (not the first connect)."""
        first = True
        while True:
            try:
                await self._session(changed, missed if not first else None)
            except (*CONNECTION_ERRORS, TimeoutError) as err:
                log.warning("callback notices: %s; listening again in %g s", err,
                            RETRY_SECONDS)
            first = False
            await asyncio.sleep(RETRY_SECONDS)

    async def _session(self, changed: Callable[[int], Awaitable[None]],
                       missed: Callable[[], Awaitable[None]] | None) -> None:
        ids: asyncio.Queue[int] = asyncio.Queue()
        conn = await asyncpg.connect(self._db.dsn, timeout=5.0, server_settings={
            "application_name": f"{self._db.instance} notices"[:63]})
        try:
            await conn.add_listener(CHANNEL, lambda *a: self._heard(a[3], ids))
            if missed is not None:
                await missed()
            while not conn.is_closed():
                with contextlib.suppress(TimeoutError):
                    callback_id = await asyncio.wait_for(ids.get(), self._check_every)
                    await changed(callback_id)
            raise ConnectionError("the listening connection closed")
        finally:
            conn.terminate()

    def _heard(self, payload: Any, ids: asyncio.Queue[int]) -> None:
        writer, _, callback_id = str(payload).rpartition(" ")
        if writer != self._db.instance and callback_id.isdigit():  # its own: known already
            self.heard += 1
            ids.put_nowait(int(callback_id))
