"""All SQL for the standards report: the per-day figures that triggers keep as calls are
stored (migration 013), the council-local days they are filed under, and their rebuild."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from callcentre.domain.standards import Figures
from callcentre.domain.survey import SurveyByAgent, SurveyTally
from callcentre.ports import Queues
from callcentre.storage.db import Database
from callcentre.storage.rows import Store

log = logging.getLogger("callcentre.storage")
ALL_QUEUES = "*"
FIRST_DAY, END_DAY = date(1970, 1, 1), date(2200, 1, 1)  # local_days covers these
_COLUMNS = "queue, day, outcome, bucket, n, wait_us, repeats, ooh, checked, corrected"
_SUMS = "SUM(n), SUM(wait_us), SUM(repeats), SUM(ooh), SUM(checked), SUM(corrected)"
_SUMS_AS = ("SUM(n) AS n, SUM(wait_us) AS wait_us, SUM(repeats) AS repeats, SUM(ooh) AS ooh,"
            " SUM(checked) AS checked, SUM(corrected) AS corrected")
# each finished call once, with its local day, wait bucket and what it adds (as the triggers)
_CONTRIBUTIONS = """
SELECT coalesce((SELECT day FROM local_days WHERE start <= c.arrived_at
                 ORDER BY start DESC LIMIT 1), '') AS day,
       c.queue AS queue, c.outcome AS outcome,
       coalesce(CAST(c.wait_seconds AS INTEGER)
                + (c.wait_seconds > CAST(c.wait_seconds AS INTEGER)), -1) AS bucket,
       1 AS n, coalesce(CAST(round(c.wait_seconds * 1000000) AS INTEGER), 0) AS wait_us,
       c.repeat_of IS NOT NULL AS repeats, c.out_of_hours AS ooh,
       c.ledger IS NOT NULL AS checked, c.ledger IS NOT NULL AND c.ledger != 'agrees' AS corrected
FROM calls c WHERE c.outcome IS NOT NULL
"""
_RECOUNT = f"""
WITH each_call AS MATERIALIZED ({_CONTRIBUTIONS})
SELECT queue, day, outcome, bucket, {_SUMS_AS} FROM each_call WHERE queue IS NOT NULL
GROUP BY queue, day, outcome, bucket
UNION ALL
SELECT '{ALL_QUEUES}', day, outcome, bucket, {_SUMS_AS} FROM each_call
GROUP BY day, outcome, bucket
"""

# A loose index scan: each step seeks the next queue name in figure_days' primary key.
# ALL_QUEUES is skipped after the walk, not in it: "queue != '*'" inside made the first
# step read every all-queue row ('*' sorts first), which grows with the history.
QUEUES = ("WITH RECURSIVE q(name) AS (SELECT MIN(queue) FROM figure_days"
          " UNION ALL SELECT (SELECT MIN(queue) FROM figure_days WHERE queue > q.name)"
          " FROM q WHERE q.name IS NOT NULL)"
          " SELECT name FROM q WHERE name IS NOT NULL AND name != ?")
# The post-call survey of a period's finished calls, by agent (#15), read from the calls
# themselves (their queue and arrival indexes): survey_* are booleans in PostgreSQL and 0/1 in
# SQLite, which CASE WHEN reads alike. The local days' bounds come from local_days.
_SURVEY = """
SELECT coalesce(agent_name, agent_interface, '') AS agent, COUNT(*),
       SUM(CASE WHEN survey_resolved IS NOT NULL OR survey_satisfaction IS NOT NULL
           THEN 1 ELSE 0 END),
       COUNT(survey_resolved), SUM(CASE WHEN survey_resolved THEN 1 ELSE 0 END),
       COUNT(survey_satisfaction), coalesce(SUM(survey_satisfaction), 0)
FROM calls
WHERE survey_offered AND outcome IS NOT NULL
  AND arrived_at >= (SELECT start FROM local_days WHERE day = ?)
  AND arrived_at < (SELECT start FROM local_days WHERE day = ?) {queue}
GROUP BY coalesce(agent_name, agent_interface, '')
"""


def _names(queue: Queues) -> tuple[str, ...] | None:
    """The queue names ``queue`` stands for; None: every call (figure_days' ALL_QUEUES)."""
    return (queue,) if isinstance(queue, str) else queue


# Above this many queues, the survey reads the period's calls by arrival and keeps the
# site's queues, instead of seeking each queue's (queue, arrived_at) index: at 1M calls a
# month of 50 queues took 66 ms by queue and 15 ms by arrival (bench/pages_at_scale.py).
SURVEY_SEEKS = 8


def _in(names: tuple[str, ...] | None, column: str = "queue") -> str:
    """The condition on ``column`` (one name: an equality, as the indexes are sought by)."""
    if names is None or len(names) == 1:
        return f"{column} = ?"
    return f"{column} IN ({', '.join('?' * len(names))})"


def figures_from_rows(rows: Iterable[Any]) -> Figures:
    """Rows of (outcome, bucket, n, wait_us, repeats, ooh, checked, corrected) merged."""
    outcomes: Counter[str] = Counter()
    answered: Counter[int] = Counter()
    abandoned: Counter[int] = Counter()
    wait_us, repeats, ooh, checked, corrected = 0, 0, 0, 0, 0
    for outcome, bucket, n, summed_us, rep, out, chk, fixed in rows:
        waited = int(summed_us)  # PostgreSQL sums bigint as numeric (a Decimal)
        outcomes[outcome] += n
        repeats += rep
        ooh += out
        checked += chk
        corrected += fixed
        if outcome == "answered" and bucket >= 0:
            answered[bucket] += n
            wait_us += waited
        elif outcome == "abandoned" and bucket >= 0:
            abandoned[bucket] += n
    return Figures(dict(outcomes), dict(answered), dict(abandoned), wait_us / 1e6, repeats, ooh,
                   checked, corrected)


@dataclass(frozen=True, slots=True)
class Rebuilt:
    rows: int  # (queue, day, outcome, bucket) rows recounted from the calls
    differed: int  # of which the kept figures had otherwise (then replaced)


class SqlStandardsRepository:
    """What both engines run alike; each engine's subclass has its recount (what a call adds,
    in its dialect), where its temporary table lives, and how the local days are written."""

    _RECOUNT = _RECOUNT
    _TEMP = "temp.recount"

    def __init__(self, db: Store) -> None:
        self._db = db

    @staticmethod
    async def _write_local_days(conn: Any, days: Iterable[tuple[float, str]]) -> None:
        """Insert (start, day) rows into local_days (emptied already)."""
        raise NotImplementedError

    async def figures(self, first_day: date, end_day: date, queue: Queues) -> Figures:
        """The finished calls that arrived on council-local days [first_day, end_day)."""
        names = _names(queue)
        if names == ():  # a site with no call yet
            return figures_from_rows([])
        rows = await self._db.fetch_all(
            f"SELECT outcome, bucket, {_SUMS} FROM figure_days"
            f" WHERE {_in(names)} AND day >= ? AND day < ? GROUP BY outcome, bucket"
            " HAVING SUM(n) != 0",
            (*(names or (ALL_QUEUES,)), first_day.isoformat(), end_day.isoformat()))
        return figures_from_rows(rows)

    async def survey(self, first_day: date, end_day: date, queue: Queues) -> SurveyByAgent:
        """The post-call survey of the calls ``figures`` counts, by agent."""
        names = _names(queue)
        if names == ():
            return {}
        args: list[Any] = [first_day.isoformat(), end_day.isoformat(), *(names or ())]
        # many queues: `queue || ''` is no indexed column, so the arrival index is used
        column = "queue || ''" if names and len(names) > SURVEY_SEEKS else "queue"
        sql = _SURVEY.format(queue=f"AND {_in(names, column)}" if names else "")
        rows = await self._db.fetch_all(sql, args)
        return {row[0]: SurveyTally(*(int(n) for n in row[1:])) for row in rows}

    async def queues(self) -> list[str]:
        """Every queue a finished call was in: one index lookup per queue."""
        return [r[0] for r in await self._db.fetch_all(QUEUES, (ALL_QUEUES,))]

    async def prepare(self, tz: ZoneInfo) -> Rebuilt | None:
        """Files days under ``tz``: at the first start after migration 013, or after the
        council's time zone changed, the local days are written and the figures rebuilt;
        otherwise nothing (None)."""
        row = await self._db.fetch_one("SELECT tz FROM local_days_zone WHERE id = 1")
        if row is not None and row[0] == tz.key:
            return None
        async with self._db.write() as conn:
            await conn.execute("DELETE FROM local_days")
            await self._write_local_days(conn, _local_days(tz))
            await conn.execute("INSERT INTO local_days_zone (id, tz) VALUES (1, ?) ON CONFLICT"
                               " (id) DO UPDATE SET tz = excluded.tz", (tz.key,))
            await conn.execute("DELETE FROM figure_days")
            await conn.execute(f"INSERT INTO figure_days ({_COLUMNS}) {self._RECOUNT}")
            rows = list(await conn.execute_fetchall("SELECT COUNT(*) FROM figure_days"))
        return Rebuilt(rows[0][0], 0)

    async def rebuild(self) -> Rebuilt:
        """Recounts every day's figures from the calls; replaces the kept ones where they
        differ (they should not: the triggers keep them) and says how many did."""
        async with self._db.write() as conn:
            return await recount(conn, "figure_days", _COLUMNS, "n != 0", self._RECOUNT,
                                 self._TEMP)


async def recount(conn: Any, table: str, columns: str, kept: str, recount_sql: str,
                  temp: str) -> Rebuilt:
    """The rebuild of a table that triggers keep (figure_days, capacity_half_hours):
    ``recount_sql`` into the temporary table ``temp``, compared with ``table``'s rows where
    ``kept`` both ways; the table replaced by the recount when they differ."""
    await conn.execute(f"DROP TABLE IF EXISTS {temp}")
    await conn.execute(f"CREATE TEMP TABLE {temp.rsplit('.', 1)[-1]} AS {recount_sql}")
    differed = list(await conn.execute_fetchall(
        f"SELECT COUNT(*) FROM (SELECT * FROM {temp} EXCEPT"
        f" SELECT {columns} FROM {table} WHERE {kept}) AS missing UNION ALL"
        f" SELECT COUNT(*) FROM (SELECT {columns} FROM {table} WHERE {kept}"
        f" EXCEPT SELECT * FROM {temp}) AS extra"))
    rows = list(await conn.execute_fetchall(f"SELECT COUNT(*) FROM {temp}"))
    if sum(r[0] for r in differed):
        await conn.execute(f"DELETE FROM {table}")
        await conn.execute(f"INSERT INTO {table} ({columns}) SELECT * FROM {temp}")
    await conn.execute(f"DROP TABLE {temp}")
    return Rebuilt(rows[0][0], sum(r[0] for r in differed))


class SqliteStandardsRepository(SqlStandardsRepository):
    def __init__(self, db: Database) -> None:
        super().__init__(db)

    @staticmethod
    async def _write_local_days(conn: Any, days: Iterable[tuple[float, str]]) -> None:
        await conn.executemany("INSERT INTO local_days (start, day) VALUES (?, ?)", days)


def _local_days(tz: ZoneInfo) -> Iterable[tuple[float, str]]:
    day = FIRST_DAY
    while day < END_DAY:
        yield datetime.combine(day, time(0), tz).timestamp(), day.isoformat()
        day += timedelta(days=1)
