"""Callback figures from SQLite: live counts (metrics, wallboard) and a period's results."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from callcentre.domain.callback_outcomes import correct_result
from callcentre.domain.callback_policy import Source
from callcentre.domain.callbacks import Result, Status
from callcentre.storage.callback_figures_repository import SqliteCallbackFigures
from callcentre.storage.callback_repository import SqliteCallbackRepository
from callcentre.storage.db import Database
from tests.contract.test_callback_repository import T0, a_callback


def closed(result: Result, due_in: timedelta, **kw: object):  # type: ignore[no-untyped-def]
    cb = replace(a_callback(), due_by=T0 + due_in)  # built valid, then moved (as time passes)
    return replace(cb, status=Status.CLOSED, result=result, next_attempt_at=None,
                   closed_at=T0 + due_in, **kw)  # type: ignore[arg-type]


async def test_counts_for_metrics_and_wallboard(db: Database) -> None:
    repo = SqliteCallbackRepository(db)
    for cb in [
        a_callback(due_by=T0 + timedelta(minutes=20)),  # at risk (30 min margin), due next hour
        a_callback(due_by=T0 + timedelta(minutes=50)),  # due next hour, not at risk
        replace(a_callback(), due_by=T0 - timedelta(minutes=1)),  # overdue
        a_callback(source=Source.ABANDONED, due_by=T0 + timedelta(days=1)),
        closed(Result.KEPT, timedelta(hours=-3)),
        closed(Result.MISSED, timedelta(hours=-2), extensions=1),
    ]:
        await repo.add(cb)
    counts = await SqliteCallbackFigures(db).counts(T0, timedelta(minutes=30))
    assert counts.promised == {"agent": 5, "abandoned": 1}
    assert counts.closed == {"kept": 1, "missed": 1}
    assert counts.open_by_state == {"pending": 4}
    assert (counts.at_risk, counts.overdue, counts.due_next_hour) == (1, 1, 2)
    assert counts.extended == 1


async def test_period_results_are_judged_by_deadline(db: Database) -> None:
    repo = SqliteCallbackRepository(db)
    for cb in [closed(Result.KEPT, timedelta(hours=1)), closed(Result.KEPT, timedelta(hours=2)),
               closed(Result.LATE, timedelta(hours=3)), closed(Result.MISSED, timedelta(hours=4)),
               closed(Result.CANCELLED, timedelta(hours=5)),
               a_callback(due_by=T0 + timedelta(hours=6)),
               closed(Result.KEPT, timedelta(days=3))]:  # due after the period
        await repo.add(cb)
    period = await SqliteCallbackFigures(db).period(T0, T0 + timedelta(days=1))
    assert (period.kept, period.late, period.missed, period.cancelled) == (2, 1, 1, 1)
    assert period.still_open == 1 and period.due == 6 and period.promised == 7
    assert period.kept_ratio == 0.5


async def test_a_corrected_result_moves_the_figures_and_no_counter_falls(db: Database) -> None:
    repo = SqliteCallbackRepository(db)
    figures = SqliteCallbackFigures(db)
    kept = await repo.add(closed(Result.KEPT, timedelta(hours=1)))
    await repo.add(closed(Result.KEPT, timedelta(hours=2)))
    fixed = correct_result(kept, Result.MISSED, "it was voicemail", "Sam (agent)", T0)
    stored = await repo.update(fixed)
    assert (await repo.get(stored.id or 0)).history[-1].action == "corrected"
    counts = await figures.counts(T0, timedelta(minutes=30))
    assert counts.closed == {"kept": 2}  # the result first closed with: never falls
    assert counts.corrected == {("kept", "missed"): 1}
    again = await repo.update(correct_result(stored, Result.KEPT, "it was them after all",
                                             "Jo (manager)", T0))
    counts = await figures.counts(T0, timedelta(minutes=30))
    assert counts.closed == {"kept": 2}
    assert counts.corrected == {("kept", "missed"): 1, ("missed", "kept"): 1}
    assert again.result is Result.KEPT
    await repo.update(correct_result(again, Result.MISSED, "no, voicemail", "Sam (agent)", T0))
    period = await figures.period(T0, T0 + timedelta(days=1))  # reports follow the result
    assert (period.kept, period.missed) == (1, 1)
