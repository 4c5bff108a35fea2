"""All SQL for the standards report: per-day aggregates of finished calls, and their cache."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from callcentre.domain.standards import Figures
from callcentre.storage.db import Database, to_epoch

ALL_QUEUES = "*"
# wait bucket k holds waits in (k-1, k]: integer part, plus one if there is a fraction
_AGGREGATE = """
SELECT outcome,
       CAST(wait_seconds AS INTEGER) + (wait_seconds > CAST(wait_seconds AS INTEGER)) AS bucket,
       COUNT(*) AS n, SUM(wait_seconds) AS wait_sum,
       SUM(repeat_of IS NOT NULL) AS repeats, SUM(out_of_hours) AS ooh,
       SUM(ledger IS NOT NULL) AS checked, SUM(ledger IS NOT NULL AND ledger != 'agrees')
FROM calls
WHERE arrived_at >= ? AND arrived_at < ? AND outcome IS NOT NULL {queue}
GROUP BY outcome, bucket
"""


def figures_from_rows(rows: Iterable[Any]) -> Figures:
    outcomes: Counter[str] = Counter()
    answered: Counter[int] = Counter()
    abandoned: Counter[int] = Counter()
    wait_sum, repeats, ooh, checked, corrected = 0.0, 0, 0, 0, 0
    for outcome, bucket, n, w_sum, rep, out, chk, fixed in rows:
        outcomes[outcome] += n
        repeats += rep or 0
        ooh += out or 0
        checked += chk or 0
        corrected += fixed or 0
        if outcome == "answered" and bucket is not None:
            answered[int(bucket)] += n
            wait_sum += w_sum or 0.0
        elif outcome == "abandoned" and bucket is not None:
            abandoned[int(bucket)] += n
    return Figures(dict(outcomes), dict(answered), dict(abandoned), wait_sum, repeats, ooh,
                   checked, corrected)


def to_json(f: Figures) -> str:
    return json.dumps({"outcomes": f.outcomes, "answered": f.answered_waits,
                       "abandoned": f.abandoned_waits, "wait_sum": f.answered_wait_sum,
                       "repeats": f.repeats, "ooh": f.out_of_hours, "checked": f.checked,
                       "corrected": f.corrected}, separators=(",", ":"))


def from_json(text: str) -> Figures:
    d = json.loads(text)
    return Figures(d["outcomes"], {int(k): v for k, v in d["answered"].items()},
                   {int(k): v for k, v in d["abandoned"].items()}, d["wait_sum"], d["repeats"],
                   d["ooh"], d.get("checked", 0), d.get("corrected", 0))  # cached before 006


class SqliteStandardsRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def figures(self, start: datetime, end: datetime, queue: str | None) -> Figures:
        """Aggregate the finished calls that arrived in [start, end)."""
        sql = _AGGREGATE.format(queue="AND queue = ?" if queue else "")
        args: list[Any] = [to_epoch(start), to_epoch(end)]
        if queue:
            args.append(queue)
        return figures_from_rows(await self._db.fetch_all(sql, args))

    async def cached(self, days: list[date], queue: str | None) -> dict[date, Figures]:
        if not days:
            return {}
        rows = await self._db.fetch_all(
            "SELECT day, figures FROM standards_days WHERE queue = ? AND day >= ? AND day <= ?",
            (queue or ALL_QUEUES, min(days).isoformat(), max(days).isoformat()))
        return {date.fromisoformat(r["day"]): from_json(r["figures"]) for r in rows}

    async def store(self, day: date, queue: str | None, figures: Figures, at: datetime) -> None:
        async with self._db.write() as conn:
            await conn.execute(
                "INSERT OR REPLACE INTO standards_days (day, queue, figures, computed_at) "
                "VALUES (?, ?, ?, ?)",
                (day.isoformat(), queue or ALL_QUEUES, to_json(figures), to_epoch(at)))

    async def queues(self) -> list[str]:
        # A loose index scan: one index lookup per queue, not a pass over every call.
        rows = await self._db.fetch_all(
            "WITH RECURSIVE q(name) AS ("
            " SELECT MIN(queue) FROM calls"
            " UNION ALL SELECT (SELECT MIN(queue) FROM calls WHERE queue > q.name) FROM q"
            " WHERE q.name IS NOT NULL) SELECT name FROM q WHERE name IS NOT NULL")
        return [r[0] for r in rows]
