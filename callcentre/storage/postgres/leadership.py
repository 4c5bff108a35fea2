"""Who leads a PBX when several instances share one PostgreSQL database (#13).

The leader holds a session advisory lock on a connection of its own and the PBX's row
of ``pbx_leaders`` (migrations/008_pbx_leaders.sql). Taking the lead raises the row's
term by one; every write the leader makes then checks the term in its own transaction
(PgDatabase.write), so an instance deposed while it was paused or cut off can write
nothing, and it stops dialling by its own clock before anyone may take over:

- the leader renews ``renewed_at`` every lease/3; ``leading()`` is true only until a
  lease after the last renewal was *sent* (the server's ``renewed_at`` is later still);
- a standby waits on the lock (``lock_timeout`` = one poll), so a leader that dies or
  whose connection drops is followed at once; when the lock is held but ``renewed_at`` is
  older than the lease (paused: SIGSTOP, a long GC, a partition), the standby ends every
  connection of the silent leader (``pg_terminate_backend`` by application_name), which
  frees the lock, and takes it;
- a leader whose lock connection fails (the server restarted) takes the lock again on a
  new one and keeps the lead if it can within its lease and no other instance took it
  meanwhile (the term unchanged); else, or when it finds the term moved on, it is
  deposed: ``keep()`` returns and the process stops (app.py): what it holds is stale.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg

from callcentre.domain.live import LeaderReport
from callcentre.storage.postgres.db import CONNECTION_ERRORS, Fence, PgDatabase

log = logging.getLogger("callcentre.leadership")
LOCK_CLASS = 0x6C656164  # the first key of pg_advisory_lock(int, int); the second: the PBX
CONNECT_SECONDS = 5.0


class PgLeadership:
    """``instance``: this process's name (unique; its connections' application_name)."""

    def __init__(self, db: PgDatabase, pbx: str, lease: float,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._db = db
        self.pbx = pbx
        self.instance = db.instance
        self.lease = lease
        self.poll = min(1.0, lease / 3)
        self._monotonic = monotonic
        self._conn: asyncpg.Connection[Any] | None = None
        self._valid_until = 0.0  # monotonic: leading() until then
        self._term: int | None = None
        self._role = "standby"
        self._since = datetime.now(UTC)
        self._leader: str | None = None
        self._detail = ""

    # --- the port ----------------------------------------------------------------------
    def leading(self) -> bool:
        return self._role == "leader" and self._monotonic() < self._valid_until

    def report(self) -> LeaderReport:
        role = "deposed" if self._role == "leader" and not self.leading() else self._role
        return LeaderReport(self.pbx, self.instance, role, self._term, self._leader,
                            self._since, self._detail)

    async def try_lead(self) -> bool:
        """One round: True once this instance leads (it then holds the lock and the term)."""
        if self._role == "leader":
            return True
        try:
            conn = await self._connection()
            sent = self._monotonic()
            if await self._lock(conn):
                return await self._take(conn, sent)
            await self._cut_off_if_silent(conn)
        except (*CONNECTION_ERRORS, TimeoutError) as err:
            self._detail = f"database: {err}"
            log.warning("leadership of %s: %s; trying again", self.pbx, err)
            await self._drop_connection()
            await asyncio.sleep(self.poll)
        return False

    async def keep(self) -> None:
        try:
            await self._keep()
        finally:
            self._set_role("deposed")
            self._db.fences[self.pbx] = Fence(self.pbx, self._term or 0, revoked=True)

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:  # the session's end frees the lock
            with contextlib.suppress(*CONNECTION_ERRORS, TimeoutError):
                await conn.close(timeout=CONNECT_SECONDS)

    # --- standing by ---------------------------------------------------------------------
    async def _lock(self, conn: asyncpg.Connection[Any]) -> bool:
        try:
            await conn.execute("SELECT pg_advisory_lock($1, hashtext($2))", LOCK_CLASS, self.pbx)
        except asyncpg.LockNotAvailableError:
            return False
        return True

    async def _take(self, conn: asyncpg.Connection[Any], sent: float) -> bool:
        try:
            term = await conn.fetchval(
                "INSERT INTO pbx_leaders (pbx, term, instance, backend_pid, since, renewed_at)"
                " VALUES ($1, 1, $2, pg_backend_pid(), clock_timestamp(), clock_timestamp())"
                " ON CONFLICT (pbx) DO UPDATE SET term = pbx_leaders.term + 1,"
                " instance = EXCLUDED.instance, backend_pid = EXCLUDED.backend_pid,"
                " since = EXCLUDED.since, renewed_at = EXCLUDED.renewed_at RETURNING term",
                self.pbx, self.instance)
        except asyncpg.LockNotAvailableError:
            # the lock is ours, so the last leader lost its lock connection; a write of its
            # (paused in the middle) still holds the row: end its connections, try again
            last = await conn.fetchval("SELECT instance FROM pbx_leaders WHERE pbx = $1",
                                       self.pbx)
            ended = await self._end_connections(conn, last)
            log.warning("PBX %s: a write of the last leader %s held up the takeover: ended "
                        "its %d connections", self.pbx, last, ended)
            raise
        self._term, self._leader = int(term), self.instance
        self._valid_until = sent + self.lease
        self._db.fences[self.pbx] = Fence(self.pbx, self._term)
        self._set_role("leader")
        log.warning("leading PBX %s (term %d) as %s", self.pbx, self._term, self.instance)
        return True

    async def _cut_off_if_silent(self, conn: asyncpg.Connection[Any]) -> None:
        row = await conn.fetchrow(
            "SELECT instance, term, extract(epoch FROM clock_timestamp() - renewed_at)"
            " AS silent FROM pbx_leaders WHERE pbx = $1", self.pbx)
        if row is None:
            return
        self._leader, self._term = row["instance"], int(row["term"])
        if row["silent"] <= self.lease:
            return
        ended = await self._end_connections(conn, row["instance"])
        log.warning("PBX %s: leader %s silent for %.1f s (lease %g s): ended its %d "
                    "connections to take over", self.pbx, row["instance"], row["silent"],
                    self.lease, ended)

    @staticmethod
    async def _end_connections(conn: asyncpg.Connection[Any], instance: str | None) -> int:
        """End every connection of ``instance`` (its application_name) but this one."""
        ended = await conn.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE application_name = $1 AND pid <> pg_backend_pid()", instance)
        return int(ended or 0)

    # --- leading -------------------------------------------------------------------------
    async def _keep(self) -> None:
        """Renew every lease/3 until the lead is lost."""
        while True:
            await asyncio.sleep(self.lease / 3)
            why = await self._renew()
            if why is not None:
                self._lost(why)
                return

    async def _renew(self) -> str | None:
        """One renewal: None when renewed, else why the lead is lost."""
        sent = self._monotonic()
        try:
            conn = self._conn
            if conn is None:
                raise ConnectionError("lock connection closed")
            renewed = await conn.fetchval(
                "UPDATE pbx_leaders SET renewed_at = clock_timestamp()"
                " WHERE pbx = $1 AND term = $2 AND backend_pid = pg_backend_pid()"
                " RETURNING term", self.pbx, self._term, timeout=self.lease / 3)
        except (*CONNECTION_ERRORS, TimeoutError) as err:
            log.warning("PBX %s: the lock connection failed (%s); taking the lock again",
                        self.pbx, err)
            return await self._relock()
        if renewed is None:
            return "another instance took over"
        if self._monotonic() > self._valid_until:
            return "renewed too late (was this process paused?)"
        self._valid_until = sent + self.lease
        return None

    async def _relock(self) -> str | None:
        """The lock connection failed (the server restarted, the network blinked): take the
        lock again on a new connection while the lease lasts. The lead, and its term, are
        kept only if no other instance took them meanwhile (the row's term unchanged)."""
        await self._drop_connection()
        while self._monotonic() < self._valid_until:
            sent = self._monotonic()
            try:
                conn = await self._connection()
                if not await conn.fetchval("SELECT pg_try_advisory_lock($1, hashtext($2))",
                                           LOCK_CLASS, self.pbx):
                    return "another instance holds the lock"
                kept = await conn.fetchval(
                    "UPDATE pbx_leaders SET backend_pid = pg_backend_pid(),"
                    " renewed_at = clock_timestamp() WHERE pbx = $1 AND term = $2"
                    " RETURNING term", self.pbx, self._term)
            except (*CONNECTION_ERRORS, TimeoutError):
                await self._drop_connection()
                await asyncio.sleep(min(0.2, self.poll))
                continue
            if kept is None:
                return "another instance took over"
            self._valid_until = sent + self.lease
            log.warning("PBX %s: the lock is taken again; still leading (term %s)", self.pbx,
                        self._term)
            return None
        return "no lock connection for longer than the lease"

    def _lost(self, why: str) -> None:
        self._detail = why
        log.error("no longer leading PBX %s (term %s): %s; stopping", self.pbx, self._term, why)

    # --- plumbing --------------------------------------------------------------------------
    async def _connection(self) -> asyncpg.Connection[Any]:
        if self._conn is None or self._conn.is_closed():
            self._conn = await asyncpg.connect(
                self._db.dsn, timeout=CONNECT_SECONDS,
                server_settings={"application_name": self.instance,
                                 "lock_timeout": f"{int(self.poll * 1000)}ms"})
            self._detail = ""
        return self._conn

    async def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.terminate()

    def _set_role(self, role: str) -> None:
        if role != self._role:
            self._role, self._since = role, datetime.now(UTC)
