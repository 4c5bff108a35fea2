"""All SQL for the capacity model: finished calls and callback attempts summed per UTC
half-hour of a window (a bounded read: the window's rows, by the arrival indexes of 001 and
015, never the history). The local half-hour of the week is the domain's to work out."""

from __future__ import annotations

from datetime import UTC, datetime

from callcentre.domain.capacity import SLOT_SECONDS, HalfHour
from callcentre.domain.standards import OFFERED_OUTCOMES
from callcentre.storage.db import Database, to_epoch

_QUEUED = ", ".join(f"'{o}'" for o in OFFERED_OUTCOMES)  # constants of the domain, not input
# ?1 window start, ?2 end (epoch seconds); ?3 the queue, or NULL for every queue.
# "queue IS ?3 OR ?3 IS NULL" would stop SQLite using the queue's index: two statements.
_CALLS = f"""
SELECT CAST(arrived_at / {SLOT_SECONDS} AS INTEGER) AS b,
       SUM(outcome IN ({_QUEUED})), SUM(outcome = 'answered'),
       TOTAL(CASE WHEN outcome = 'answered' THEN talk_seconds END),
       SUM(outcome = 'answered' AND talk_seconds IS NOT NULL), SUM(outcome = 'abandoned'),
       TOTAL(CASE WHEN outcome IN ({_QUEUED}) THEN wait_seconds END)
FROM calls WHERE arrived_at >= ?1 AND arrived_at < ?2 {{queue}} GROUP BY b
"""
_BY_QUEUE = _CALLS.format(queue="AND queue = ?3")
_EVERY = _CALLS.format(queue="AND outcome IS NOT NULL")
_AGENTS = f"""
SELECT CAST(answered_at / {SLOT_SECONDS} AS INTEGER) AS b, COUNT(DISTINCT agent_interface)
FROM calls WHERE arrived_at >= ?1 AND arrived_at < ?2 AND answered_at IS NOT NULL
 AND agent_interface IS NOT NULL {{queue}} GROUP BY b
"""
# A callback's attempts are JSON (002); callbacks due from a week before the window to a
# week after it (callbacks_by_deadline) hold every attempt made in it: a promise is at most
# days long and an attempt is made before it is closed.
_WEEK = 7 * 86400
_CALLBACKS = f"""
SELECT CAST(json_extract(a.value, '$.start') / {SLOT_SECONDS} AS INTEGER) AS b,
       TOTAL(json_extract(a.value, '$.end') - json_extract(a.value, '$.start'))
FROM callbacks c, json_each(c.attempts) a
WHERE c.due_by >= ?1 - {_WEEK} AND c.due_by < ?2 + {_WEEK}
  AND json_extract(a.value, '$.start') >= ?1 AND json_extract(a.value, '$.start') < ?2
  AND json_extract(a.value, '$.end') IS NOT NULL
GROUP BY b
"""


def _start(bucket: int) -> datetime:
    return datetime.fromtimestamp(bucket * SLOT_SECONDS, UTC)


class SqliteCapacityHistory:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def half_hours(self, start: datetime, end: datetime,
                         queue: str | None) -> list[HalfHour]:
        """Finished calls that arrived in [start, end), of ``queue`` (None: every call,
        with callback attempts started then), summed per UTC half-hour."""
        window = (to_epoch(start), to_epoch(end))
        if queue is None:
            rows = await self._db.fetch_all(_EVERY, window)
            attempts = {r[0]: r[1] for r in await self._db.fetch_all(_CALLBACKS, window)}
        else:
            rows, attempts = await self._db.fetch_all(_BY_QUEUE, (*window, queue)), {}
        out = {r[0]: HalfHour(_start(r[0]), r[1] or 0, r[2] or 0, r[3], r[4] or 0, r[5] or 0,
                              r[6], attempts.pop(r[0], 0.0)) for r in rows}
        out.update({b: HalfHour(_start(b), callback_seconds=s) for b, s in attempts.items()})
        return [out[b] for b in sorted(out)]

    async def agents(self, start: datetime, end: datetime, queue: str | None) -> list[HalfHour]:
        """How many different agents answered a call per UTC half-hour, of calls that
        arrived in [start, end) (of ``queue``; None: any)."""
        sql = _AGENTS.format(queue="AND queue = ?3" if queue else "")
        args = (to_epoch(start), to_epoch(end)) + ((queue,) if queue else ())
        return [HalfHour(_start(r[0]), agents=r[1])
                for r in await self._db.fetch_all(sql, args)]
