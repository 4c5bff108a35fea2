"""All SQL for callback figures (reports, metrics, wallboard; 014_callback_tallies.sql)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from callcentre.domain.callback_figures import CallbackCounts, CallbackPeriod
from callcentre.domain.survey import SurveyTally
from callcentre.storage.db import Database
from callcentre.storage.rows import Store, to_epoch

# One statement, so one snapshot: a callback closed meanwhile is counted open or closed,
# never neither. The history-wide figures are counters the triggers of 014_callback_tallies.sql
# keep; the rest reads the open callbacks through the partial index callbacks_open (its
# condition is status != 'closed', word for word). ?1 now, ?2 the end of the at-risk margin,
# ?3 an hour from now.
_COUNTS = (
    "SELECT figure, label, n, 0, 0, 0 FROM callback_tallies WHERE n != 0 "
    "UNION ALL "
    "SELECT 'open', status, COUNT(*), SUM(due_by < ?1), "
    "SUM(due_by >= ?1 AND due_by < ?2 AND attempt_count = 0), SUM(due_by >= ?1 AND due_by < ?3) "
    "FROM callbacks WHERE status != 'closed' GROUP BY status")
# A period's callbacks, each read from a covering index (014): made in it, and due in it
# (a promise is judged by its deadline).
# {site}: "" for every site's, or " AND site = ?" (migrations/024_callback_site.sql keeps the
# site in each index these read, so one site's figures too come from the indexes alone)
_MADE = "SELECT COUNT(*) FROM callbacks WHERE created_at >= ? AND created_at < ?{site}"
_DUE = ("SELECT result, COUNT(*), SUM(extensions > 0), "
        "SUM(result = 'missed' AND first_attempt_in_time = 1) "
        "FROM callbacks WHERE due_by >= ? AND due_by < ?{site} GROUP BY result")
# The survey after the callbacks due in the period (022_callback_survey.sql), from the partial
# index callbacks_surveyed alone: its condition is {offered}, word for word.
SURVEYED = ("SELECT COUNT(*), "
            "SUM(CASE WHEN survey_resolved IS NOT NULL OR survey_satisfaction IS NOT NULL "
            "THEN 1 ELSE 0 END), COUNT(survey_resolved), "
            "SUM(CASE WHEN survey_resolved THEN 1 ELSE 0 END), COUNT(survey_satisfaction), "
            "coalesce(SUM(survey_satisfaction), 0) "
            "FROM callbacks WHERE {offered} AND due_by >= ? AND due_by < ?{site}")


class SqlCallbackFigures:
    """What both engines run alike; each engine's subclass has counts()'s and period()'s
    statements in its own dialect (the same columns, in the same order)."""

    _COUNTS = _COUNTS
    _DUE = _DUE
    _SURVEYED = SURVEYED.replace("{offered}", "survey_offered = 1")

    def __init__(self, db: Store) -> None:
        self._db = db

    async def counts(self, now: datetime, at_risk_margin: timedelta) -> CallbackCounts:
        t = to_epoch(now)
        assert t is not None
        margin = at_risk_margin.total_seconds()
        rows = await self._db.fetch_all(self._COUNTS, (t, t + margin, t + 3600))
        by: dict[str, dict[str, int]] = {}
        for r in rows:
            by.setdefault(r[0], {})[r[1]] = r[2]
        opened = [r for r in rows if r[0] == "open"]
        return CallbackCounts(
            promised=by.get("promised", {}),
            closed={k: n for k, n in by.get("closed", {}).items() if k},
            corrected={tuple(k.split(">", 1)): n for k, n in by.get("corrected", {}).items()
                       if ">" in k},
            extended=sum(by.get("extended", {}).values()),
            open_by_state=by.get("open", {}),
            overdue=sum(r[3] or 0 for r in opened),
            at_risk=sum(r[4] or 0 for r in opened if r[1] == "pending"),
            due_next_hour=sum(r[5] or 0 for r in opened))

    async def period(self, start: datetime, end: datetime,
                     site: str | None = None) -> CallbackPeriod:
        args: tuple[Any, ...] = (to_epoch(start), to_epoch(end))
        also = ""
        if site is not None:
            args, also = (*args, site), " AND site = ?"
        made = await self._db.fetch_one(_MADE.format(site=also), args)
        rows = await self._db.fetch_all(self._DUE.format(site=also), args)
        by = {r[0]: r[1] for r in rows}
        surveyed = await self._db.fetch_one(self._SURVEYED.format(site=also), args)
        return CallbackPeriod(
            promised=int(made[0]) if made else 0, due=sum(by.values()),
            kept=by.get("kept", 0), late=by.get("late", 0), missed=by.get("missed", 0),
            cancelled=by.get("cancelled", 0), still_open=by.get(None, 0),
            extended=sum(r[2] or 0 for r in rows),
            missed_first_in_time=sum(r[3] or 0 for r in rows),
            survey=SurveyTally(*(int(n or 0) for n in surveyed)) if surveyed else SurveyTally())


class SqliteCallbackFigures(SqlCallbackFigures):
    def __init__(self, db: Database) -> None:
        super().__init__(db)
