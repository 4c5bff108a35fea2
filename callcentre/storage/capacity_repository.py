"""All SQL for the capacity model: the half-hours of its window that triggers keep as calls
are stored (capacity_half_hours: SQLite's migration 019, PostgreSQL's 006; a window costs its
rows, never the history), callback attempts and last week's agents read from the window's
own rows. The local half-hour of the week is the domain's to work out. SqlCapacityHistory
runs on either engine; postgres/capacity.py has PostgreSQL's own words.

Windows start and end on a UTC half-hour (a local midnight, in zones whose offset is whole
or half hours): a half-hour is in the window when it starts in it.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from callcentre.domain.capacity import SLOT_SECONDS, HalfHour
from callcentre.domain.standards import OFFERED_OUTCOMES
from callcentre.ports import Queues
from callcentre.storage.db import Database, to_epoch
from callcentre.storage.rows import Store
from callcentre.storage.standards_repository import Rebuilt, recount

_KEPT = ("SELECT start, arrivals, answered, talk_us, talked, abandoned, wait_us"
         " FROM capacity_half_hours WHERE queue = ? AND start >= ? AND start < ?"
         " AND arrivals != 0")  # a row every call has left again (corrected, erased) is 0
ALL_QUEUES = "*"
_COLUMNS = "queue, start, arrivals, answered, talked, talk_us, abandoned, wait_us"
_QUEUED = ", ".join(f"'{o}'" for o in OFFERED_OUTCOMES)  # the domain's constants, not input
# what migration 019's triggers add up, recounted from the calls (the migration's own fill)
_RECOUNT = f"""
WITH queued AS (SELECT queue, CAST(arrived_at / {SLOT_SECONDS} AS INTEGER) AS start, outcome,
                       talk_seconds, wait_seconds FROM calls
                WHERE out_of_hours = 0 AND outcome IN ({_QUEUED}))
SELECT name, start, COUNT(*), SUM(outcome = 'answered'),
       SUM(outcome = 'answered' AND talk_seconds IS NOT NULL),
       SUM(CASE WHEN outcome = 'answered'
                THEN coalesce(CAST(round(talk_seconds * 1000000) AS INTEGER), 0) ELSE 0 END),
       SUM(outcome = 'abandoned'), SUM(coalesce(CAST(round(wait_seconds * 1000000) AS INTEGER), 0))
FROM (SELECT queue AS name, start, outcome, talk_seconds, wait_seconds FROM queued
      WHERE queue IS NOT NULL
      UNION ALL SELECT '{ALL_QUEUES}', start, outcome, talk_seconds, wait_seconds FROM queued)
GROUP BY name, start
"""
# {half_hour}: an epoch column's UTC half-hour in the engine's dialect (truncated)
_AGENTS = """
SELECT {half_hour} AS b, COUNT(DISTINCT agent_interface)
FROM calls WHERE arrived_at >= ? AND arrived_at < ? AND answered_at IS NOT NULL
 AND agent_interface IS NOT NULL {queue} GROUP BY b
"""
# A callback's attempts are JSON (002); callbacks due from a week before the window to a
# week after it (callbacks_by_deadline) hold every attempt made in it: a promise is at most
# days long and an attempt is made before it is closed.
WEEK = 7 * 86400
_CALLBACKS = f"""
SELECT CAST(json_extract(a.value, '$.start') / {SLOT_SECONDS} AS INTEGER) AS b,
       TOTAL(json_extract(a.value, '$.end') - json_extract(a.value, '$.start'))
FROM callbacks c, json_each(c.attempts) a
WHERE c.due_by >= ?1 - {WEEK} AND c.due_by < ?2 + {WEEK}
  AND json_extract(a.value, '$.start') >= ?1 AND json_extract(a.value, '$.start') < ?2
  AND json_extract(a.value, '$.end') IS NOT NULL {{site}}
GROUP BY b
"""


def _names(queue: Queues) -> tuple[str, ...]:
    """The queues' names as capacity_half_hours keeps them (ALL_QUEUES: every queue's)."""
    if queue is None:
        return (ALL_QUEUES,)
    return (queue,) if isinstance(queue, str) else queue


def _half_hour(epoch: float | None) -> int:
    assert epoch is not None
    return int(epoch // SLOT_SECONDS)


def _start(bucket: int) -> datetime:
    return datetime.fromtimestamp(bucket * SLOT_SECONDS, UTC)


class SqlCapacityHistory:
    """What both engines run alike; each engine's subclass has its recount (what a call adds,
    in its dialect), the attempts' JSON, a half-hour's expression and where its temporary
    table lives."""

    _RECOUNT = _RECOUNT
    _CALLBACKS = _CALLBACKS  # (window start, window end) -> (half-hour, attempts' seconds)
    _SITE = "AND c.site = ?3"  # the callbacks of one site (Callback.site)
    _HALF_HOUR = f"CAST({{}} / {SLOT_SECONDS} AS INTEGER)"
    _TEMP = "temp.capacity_recount"

    def __init__(self, db: Store) -> None:
        self._db = db

    async def half_hours(self, start: datetime, end: datetime, queue: Queues,
                         site: str | None = None) -> list[HalfHour]:
        """Residents queued while open in the half-hours of [start, end), of ``queue`` (one,
        a site's several, or None: every queue), with the agents' time on the callback
        attempts started then: every one for every queue, ``site``'s for a site's queues."""
        window = (to_epoch(start), to_epoch(end))
        out: dict[int, HalfHour] = {}
        for name in _names(queue):
            for r in await self._db.fetch_all(_KEPT, (name, *map(_half_hour, window))):
                kept = HalfHour(_start(r[0]), r[1], r[2], r[3] / 1e6, r[4], r[5], r[6] / 1e6)
                out[r[0]] = out[r[0]].plus(kept) if r[0] in out else kept
        for b, seconds in (await self._attempts(window, queue, site)).items():
            out[b] = replace(out.get(b) or HalfHour(_start(b)), callback_seconds=seconds)
        return [out[b] for b in sorted(out)]

    async def _attempts(self, window: tuple[object, ...], queue: Queues,
                        site: str | None) -> dict[int, float]:
        if queue is not None and (isinstance(queue, str) or site is None):
            return {}  # a queue's calls: a callback has no queue
        sql, args = self._CALLBACKS.format(site=""), window
        if queue is not None:
            sql, args = self._CALLBACKS.format(site=self._SITE), (*window, site)
        return {r[0]: r[1] for r in await self._db.fetch_all(sql, args)}

    async def agents(self, start: datetime, end: datetime, queue: Queues) -> list[HalfHour]:
        """How many different agents answered a call per UTC half-hour, of calls that
        arrived in [start, end) (of ``queue``, or of any of several; None: any)."""
        names = () if queue is None else _names(queue)
        if queue is not None and not names:
            return []  # a site with no queues yet
        marks = ", ".join("?" * len(names))
        sql = _AGENTS.format(half_hour=self._HALF_HOUR.format("answered_at"),
                             queue=f"AND queue IN ({marks})" if names else "")
        args = (to_epoch(start), to_epoch(end), *names)
        return [HalfHour(_start(r[0]), agents=r[1])
                for r in await self._db.fetch_all(sql, args)]

    async def rebuild(self) -> Rebuilt:
        """Recounts every half-hour from the calls; replaces the kept rows where they differ
        (they should not: the triggers keep them) and says how many did."""
        async with self._db.write() as conn:
            return await recount(conn, "capacity_half_hours", _COLUMNS, "arrivals != 0",
                                 self._RECOUNT, self._TEMP)


class SqliteCapacityHistory(SqlCapacityHistory):
    def __init__(self, db: Database) -> None:
        super().__init__(db)
