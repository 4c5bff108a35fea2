"""All SQL about the queue_log ledger: its lines, where reading stopped, settled calls.

Every statement here is valid in SQLite and PostgreSQL alike (``"offset"`` is quoted: a
reserved word in PostgreSQL), so both engines run this one class."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from callcentre.domain.calls import Call
from callcentre.domain.queue_log import QueueLogLine
from callcentre.ports import LedgerCounts, LedgerPosition
from callcentre.storage.call_repository import COLUMNS, call_from_row, row_values
from callcentre.storage.db import Database
from callcentre.storage.rows import Row, Store, to_epoch

_INSERT_LINE = ("INSERT INTO ledger_lines (at, callid, queue, agent, event, data) "
                "VALUES (?, ?, ?, ?, ?, ?)")
_TOUCH_CALL = ("INSERT INTO ledger_calls (callid, last_line_at, settled_at) VALUES (?, ?, NULL) "
               "ON CONFLICT(callid) DO UPDATE SET settled_at = NULL, last_line_at = CASE WHEN "
               "excluded.last_line_at > ledger_calls.last_line_at THEN excluded.last_line_at "
               "ELSE ledger_calls.last_line_at END")
_POSITION = ('INSERT INTO ledger_sources (path, device, inode, "offset", updated_at) '
             "VALUES (?, ?, ?, ?, ?) ON CONFLICT(path) DO UPDATE SET device = excluded.device, "
             'inode = excluded.inode, "offset" = excluded."offset", '
             "updated_at = excluded.updated_at")
# Settling replaces the whole row, finished or not; an agent's case link still wins.
_SETTLE = (
    f"INSERT INTO calls ({', '.join(COLUMNS)}, ledger) "
    f"VALUES ({', '.join('?' * (len(COLUMNS) + 1))}) ON CONFLICT(linkedid) DO UPDATE SET "
    + ", ".join(
        f"{c} = CASE WHEN calls.case_link = 'agent' THEN calls.{c} ELSE excluded.{c} END"
        if c in ("case_ref", "case_link") else f"{c} = excluded.{c}"
        for c in (*COLUMNS[1:], "ledger"))
)
_COUNTS = """
SELECT COUNT(*), COUNT(settled_at),
       (SELECT COUNT(*) FROM calls WHERE ledger = 'agrees'),
       (SELECT COUNT(*) FROM calls WHERE ledger IS NOT NULL AND ledger != 'agrees')
FROM ledger_calls
"""


def _line(row: Row) -> QueueLogLine:
    data = tuple(row["data"].split("|")) if row["data"] else ()
    return QueueLogLine(datetime.fromtimestamp(row["at"], UTC), row["callid"], row["queue"],
                        row["agent"], row["event"], data)


class SqlLedgerRepository:
    def __init__(self, db: Store) -> None:
        self._db = db

    async def position(self, path: str) -> LedgerPosition | None:
        row = await self._db.fetch_one(
            "SELECT device, inode, \"offset\" FROM ledger_sources WHERE path = ?", (path,))
        return None if row is None else LedgerPosition(path, row[0], row[1], row[2])

    async def append(self, lines: Sequence[QueueLogLine], position: LedgerPosition,
                     at: datetime) -> list[str]:
        last: dict[str, float] = {}
        for line in lines:
            stamp = line.at.timestamp()
            last[line.callid] = max(stamp, last.get(line.callid, stamp))
        async with self._db.write() as conn:
            await conn.executemany(_INSERT_LINE, [
                (ln.at.timestamp(), ln.callid, ln.queue, ln.agent, ln.event, "|".join(ln.data))
                for ln in lines])
            await conn.executemany(_TOUCH_CALL, list(last.items()))
            await conn.execute(_POSITION, (position.path, position.device, position.inode,
                                           position.offset, to_epoch(at)))
        return list(last)

    async def lines_of(self, callid: str) -> list[QueueLogLine]:
        rows = await self._db.fetch_all(
            "SELECT * FROM ledger_lines WHERE callid = ? ORDER BY id", (callid,))
        return [_line(r) for r in rows]

    async def unsettled(self, last_line_before: datetime, limit: int) -> list[str]:
        rows = await self._db.fetch_all(
            "SELECT callid FROM ledger_calls WHERE settled_at IS NULL AND last_line_at < ? "
            "ORDER BY last_line_at LIMIT ?", (to_epoch(last_line_before), limit))
        return [r[0] for r in rows]

    async def call_of(self, callid: str) -> Call | None:
        row = await self._db.fetch_one("SELECT * FROM calls WHERE linkedid = ?", (callid,))
        return None if row is None else self._db.unreadable.one("calls", row, call_from_row)

    async def settle(self, callid: str, call: Call, verdict: str, at: datetime) -> Call:
        async with self._db.write() as conn:
            await conn.execute(_SETTLE, (*row_values(call), verdict))
            await conn.execute("UPDATE ledger_calls SET settled_at = ? WHERE callid = ?",
                               (to_epoch(at), callid))
            rows = list(await conn.execute_fetchall(
                "SELECT * FROM calls WHERE linkedid = ?", (call.linkedid,)))
        return call_from_row(rows[0])

    async def give_up(self, callid: str, at: datetime) -> None:
        async with self._db.write() as conn:
            await conn.execute("UPDATE ledger_calls SET settled_at = ? WHERE callid = ?",
                               (to_epoch(at), callid))

    async def counts(self) -> LedgerCounts:
        row = await self._db.fetch_one(_COUNTS)
        if row is None:
            return LedgerCounts()
        calls, settled, agreed, corrected = (int(v) for v in row)
        return LedgerCounts(calls, settled, agreed, corrected, calls - settled)


class SqliteLedgerRepository(SqlLedgerRepository):
    def __init__(self, db: Database) -> None:
        super().__init__(db)
