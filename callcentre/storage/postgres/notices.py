"""What other instances on the same PostgreSQL database changed or see: LISTEN on the
channel the callbacks' trigger NOTIFYs on commit (migrations/011_callback_notices.sql),
and on the one the leader publishes its live view on (a JSON payload, well under
NOTIFY's 8,000 bytes: counts per queue, at most SHOWN callback ids and agent names).

One connection of its own listens. Notices are delivered only while it is connected; when
it drops (a server restart, a network blink) the listener connects again and says that
some may have been missed (``missed``), so the caller reloads what it keeps instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any

import asyncpg

from callcentre.domain.live import LeaderLive
from callcentre.storage.postgres.db import CONNECTION_ERRORS, PgDatabase

log = logging.getLogger("callcentre.storage")
CHANNEL = "callcentre_callbacks"
LIVE = "callcentre_live"
RETRY_SECONDS = 1.0
SHOWN = 50  # callback ids and agent names in a live view at most
Live = Callable[[LeaderLive], None]


class PgNotices:
    def __init__(self, db: PgDatabase, check_every: float = 1.0) -> None:
        self._db = db
        self._check_every = check_every
        self.heard = 0  # notices from other instances, since start

    async def listen(self, changed: Callable[[int], Awaitable[None]],
                     missed: Callable[[], Awaitable[None]], live: Live) -> None:
        """Until cancelled: ``changed(id)`` for each callback another instance changed;
        ``missed()`` after every reconnect (not the first connect); ``live(view)``."""
        first = True
        while True:
            try:
                await self._session(changed, missed if not first else None, live)
            except (*CONNECTION_ERRORS, TimeoutError) as err:
                log.warning("notices: %s; listening again in %g s", err, RETRY_SECONDS)
            first = False
            await asyncio.sleep(RETRY_SECONDS)

    async def publish(self, view: LeaderLive) -> None:
        body = asdict(view)
        body["ready"], body["available"] = body["ready"][:SHOWN], body["available"][:SHOWN]
        await self._db.fetch_all("SELECT pg_notify(?, ?)",
                                 (LIVE, f"{self._db.instance} {json.dumps(body)}"))

    async def _session(self, changed: Callable[[int], Awaitable[None]],
                       missed: Callable[[], Awaitable[None]] | None, live: Live) -> None:
        ids: asyncio.Queue[int] = asyncio.Queue()
        conn = await asyncpg.connect(self._db.dsn, timeout=5.0, server_settings={
            "application_name": f"{self._db.instance} notices"[:63]})
        try:
            await conn.add_listener(CHANNEL, lambda *a: self._heard(a[3], ids))
            await conn.add_listener(LIVE, lambda *a: self._seen(a[3], live))
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

    def _seen(self, payload: Any, live: Live) -> None:
        writer, _, body = str(payload).partition(" {")
        if writer == self._db.instance:
            return
        try:
            data = json.loads("{" + body)
            live(LeaderLive({q: (int(n), float(w)) for q, (n, w) in data["waiting"].items()},
                            data["agents"], int(data["in_progress"]),
                            tuple(int(i) for i in data["ready"]),
                            tuple(str(a) for a in data["available"]),
                            str(data.get("site", ""))))  # none before sites: the main PBX
        except (ValueError, KeyError, TypeError) as err:  # another version's: skipped, said
            log.warning("notices: a live view not understood (%s); skipped", err)
