"""All SQL for callback figures (reports, metrics, wallboard)."""

from __future__ import annotations

from datetime import datetime, timedelta

from callcentre.domain.callback_figures import CallbackCounts, CallbackPeriod
from callcentre.storage.db import Database, to_epoch


class SqliteCallbackFigures:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def counts(self, now: datetime, at_risk_margin: timedelta) -> CallbackCounts:
        t = to_epoch(now)
        assert t is not None
        promised = await self._db.fetch_all(
            "SELECT source, COUNT(*) FROM callbacks GROUP BY source")
        # by the result first closed with: corrections are counted apart (migration 007)
        closed = await self._db.fetch_all(
            "SELECT closed_result, COUNT(*), SUM(extensions > 0) FROM callbacks "
            "WHERE status = 'closed' GROUP BY closed_result")
        fixes = await self._db.fetch_all(
            "SELECT j.value, COUNT(*) FROM callbacks, json_each(callbacks.corrections) j "
            "WHERE corrections IS NOT NULL GROUP BY j.value")
        open_rows = await self._db.fetch_all(
            "SELECT status, COUNT(*), SUM(due_by < ?), "
            "SUM(due_by >= ? AND due_by < ? AND attempt_count = 0), "
            "SUM(due_by >= ? AND due_by < ?), SUM(extensions > 0) "
            "FROM callbacks WHERE status != 'closed' GROUP BY status",
            (t, t, t + at_risk_margin.total_seconds(), t, t + 3600))
        return CallbackCounts(
            promised={r[0]: r[1] for r in promised},
            closed={r[0]: r[1] for r in closed if r[0]},
            corrected={tuple(r[0].split(">", 1)): r[1] for r in fixes if ">" in r[0]},
            extended=sum(r[2] or 0 for r in closed) + sum(r[5] or 0 for r in open_rows),
            open_by_state={r[0]: r[1] for r in open_rows},
            overdue=sum(r[2] or 0 for r in open_rows),
            at_risk=sum(r[3] or 0 for r in open_rows if r[0] == "pending"),
            due_next_hour=sum(r[4] or 0 for r in open_rows))

    async def period(self, start: datetime, end: datetime) -> CallbackPeriod:
        a, b = to_epoch(start), to_epoch(end)
        made = await self._db.fetch_one(
            "SELECT COUNT(*) FROM callbacks WHERE created_at >= ? AND created_at < ?", (a, b))
        rows = await self._db.fetch_all(
            "SELECT result, COUNT(*), SUM(extensions > 0), "
            "SUM(result = 'missed' AND first_attempt_in_time = 1) "
            "FROM callbacks WHERE due_by >= ? AND due_by < ? GROUP BY result", (a, b))
        by = {r[0]: r[1] for r in rows}
        return CallbackPeriod(
            promised=int(made[0]) if made else 0, due=sum(by.values()),
            kept=by.get("kept", 0), late=by.get("late", 0), missed=by.get("missed", 0),
            cancelled=by.get("cancelled", 0), still_open=by.get(None, 0),
            extended=sum(r[2] or 0 for r in rows),
            missed_first_in_time=sum(r[3] or 0 for r in rows))
