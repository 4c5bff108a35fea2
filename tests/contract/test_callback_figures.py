"""Callback figures from SQLite and PostgreSQL: live counts (metrics, wallboard) and a
period's results, and the counters the triggers keep against a recount."""

from __future__ import annotations

import random
import sqlite3
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from callcentre.domain.callback_figures import CallbackCounts
from callcentre.domain.callback_outcomes import CORRECTABLE, correct_result
from callcentre.domain.callback_policy import Source
from callcentre.domain.callbacks import (
    Attempt,
    AttemptOutcome,
    Callback,
    Result,
    Status,
    Told,
    cancel,
    expire,
    finish_attempt,
    link_lost,
    record_outcome,
    reschedule,
    resident_answered,
    start_attempt,
)
from callcentre.domain.retention import Kind
from callcentre.domain.survey import SurveyTally
from callcentre.errors import Conflict
from callcentre.storage import callback_figures_repository as figures_sql
from callcentre.storage.callback_repository import SqliteCallbackRepository
from callcentre.storage.db import Database, migrations
from callcentre.storage.engines import Repositories, repositories_on
from tests import engines
from tests.contract.test_callback_repository import POLICY, T0, a_callback
from tests.engines import ENGINES

Engine = Repositories


@pytest.fixture(params=ENGINES)
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Engine]:
    async with AsyncExitStack() as stack:
        yield await engines.stores_for(request, stack, tmp_path)


def closed(result: Result, due_in: timedelta, **kw: object):  # type: ignore[no-untyped-def]
    cb = replace(a_callback(), due_by=T0 + due_in)  # built valid, then moved (as time passes)
    return replace(cb, status=Status.CLOSED, result=result, next_attempt_at=None,
                   closed_at=T0 + due_in, **kw)  # type: ignore[arg-type]


async def test_counts_for_metrics_and_wallboard(engine: Engine) -> None:
    repo = engine.callbacks
    for cb in [
        a_callback(due_by=T0 + timedelta(minutes=20)),  # at risk (30 min margin), due next hour
        a_callback(due_by=T0 + timedelta(minutes=50)),  # due next hour, not at risk
        replace(a_callback(), due_by=T0 - timedelta(minutes=1)),  # overdue
        a_callback(source=Source.ABANDONED, due_by=T0 + timedelta(days=1)),
        closed(Result.KEPT, timedelta(hours=-3)),
        closed(Result.MISSED, timedelta(hours=-2), extensions=1),
    ]:
        await repo.add(cb)
    counts = await engine.callback_figures.counts(T0, timedelta(minutes=30))
    assert counts.promised == {"agent": 5, "abandoned": 1}
    assert counts.closed == {"kept": 1, "missed": 1}
    assert counts.open_by_state == {"pending": 4}
    assert (counts.at_risk, counts.overdue, counts.due_next_hour) == (1, 1, 2)
    assert counts.extended == 1


async def test_period_results_are_judged_by_deadline(engine: Engine) -> None:
    repo = engine.callbacks
    for cb in [closed(Result.KEPT, timedelta(hours=1)), closed(Result.KEPT, timedelta(hours=2)),
               closed(Result.LATE, timedelta(hours=3)), closed(Result.MISSED, timedelta(hours=4)),
               closed(Result.CANCELLED, timedelta(hours=5)),
               a_callback(due_by=T0 + timedelta(hours=6)),
               closed(Result.KEPT, timedelta(days=3))]:  # due after the period
        await repo.add(cb)
    period = await engine.callback_figures.period(T0, T0 + timedelta(days=1))
    assert (period.kept, period.late, period.missed, period.cancelled) == (2, 1, 1, 1)
    assert period.still_open == 1 and period.due == 6 and period.promised == 7
    assert period.kept_ratio == 0.5


async def test_a_sites_period_counts_its_own_callbacks(engine: Engine) -> None:
    """/standards?site=north: the callbacks north dials (Callback.site), made and due."""
    repo = engine.callbacks
    for cb in [closed(Result.KEPT, timedelta(hours=1)),
               closed(Result.MISSED, timedelta(hours=2), site="north"),
               replace(closed(Result.KEPT, timedelta(hours=3), site="north"),
                       attempts=(Attempt(1, T0, "callback-x-1", "PJSIP/agent1", T0,
                                         AttemptOutcome.REACHED, T0, True, survey_offered=True,
                                         survey_resolved=True, survey_satisfaction=5),)),
               a_callback(due_by=T0 + timedelta(hours=4), site="south")]:
        await repo.add(cb)
    figures, day = engine.callback_figures, (T0, T0 + timedelta(days=1))
    council, main = await figures.period(*day), await figures.period(*day, "")
    north, east = await figures.period(*day, "north"), await figures.period(*day, "east")
    assert (council.promised, council.due, council.kept, council.still_open) == (4, 4, 2, 1)
    assert (main.promised, main.due, main.kept, main.missed) == (1, 1, 1, 0)
    assert (north.promised, north.due, north.kept, north.missed) == (2, 2, 1, 1)
    assert north.survey.offered == 1 and main.survey.offered == 0
    assert (east.promised, east.due) == (0, 0)


async def test_the_survey_after_callbacks_is_counted_by_deadline(engine: Engine) -> None:
    """Each callback counts its latest attempt that reached the survey (#15)."""
    def surveyed(hours: int, *answers: tuple[bool | None, int | None]) -> Callback:
        cb = closed(Result.KEPT, timedelta(hours=hours))
        start = cb.due_by - timedelta(minutes=30)
        tried = tuple(Attempt(n, start, f"callback-x-{n}", "PJSIP/agent1", start,
                              AttemptOutcome.REACHED, start, True, survey_offered=True,
                              survey_resolved=resolved, survey_satisfaction=score)
                      for n, (resolved, score) in enumerate(answers, 1))
        return replace(cb, attempts=tried)

    for cb in [surveyed(1, (False, 1), (True, 5)),  # the second attempt's answers count
               surveyed(2, (None, None)),  # reached the survey, keyed nothing
               surveyed(3, (False, None)),
               closed(Result.KEPT, timedelta(hours=4)),  # no survey
               surveyed(30, (True, 4))]:  # due after the period
        await engine.callbacks.add(cb)
    survey = (await engine.callback_figures.period(T0, T0 + timedelta(days=1))).survey
    assert survey == SurveyTally(offered=3, responded=2, resolved_answers=2, resolved_yes=1,
                                 satisfaction_answers=1, satisfaction_sum=5)
    stored = await engine.callbacks.get(1)
    assert stored.attempts[-1].survey_satisfaction == 5


async def test_the_migration_fills_the_survey_of_callbacks_already_stored(
        engine: Engine) -> None:
    """022 (PostgreSQL 013) reads the survey of callbacks stored before it from their
    attempts: its backfill, run on columns wiped, gives back what the repository wrote."""
    cb = closed(Result.KEPT, timedelta(hours=1))
    start = cb.due_by - timedelta(minutes=30)
    tried = [Attempt(n, start, f"callback-y-{n}", None, start, AttemptOutcome.REACHED, start,
                     True, survey_offered=n < 3, survey_resolved=n == 2,
                     survey_satisfaction=n + 2) for n in (1, 2, 3)]
    await engine.callbacks.add(replace(cb, attempts=tuple(tried)))
    await engine.callbacks.add(closed(Result.KEPT, timedelta(hours=2)))
    figures = engine.callback_figures
    before = (await figures.period(T0, T0 + timedelta(days=1))).survey
    assert before == SurveyTally(1, 1, 1, 1, 1, 4)  # attempt 2: the latest that reached it
    postgres = not isinstance(engine.db, Database)
    migration = "postgres/migrations/013" if postgres else "migrations/022"
    [sql] = [s for s in (Path(figures_sql.__file__).parent / f"{migration}_callback_survey.sql"
                         ).read_text().split(";") if "UPDATE callbacks" in s]
    async with engine.db.write() as conn:
        await conn.execute("UPDATE callbacks SET survey_offered = "
                           f"{'false' if postgres else '0'}, survey_resolved = NULL, "
                           "survey_satisfaction = NULL")
    assert (await figures.period(T0, T0 + timedelta(days=1))).survey == SurveyTally()
    async with engine.db.write() as conn:
        await (conn.conn.execute(sql) if postgres else conn.execute(sql))
    assert (await figures.period(T0, T0 + timedelta(days=1))).survey == before


async def test_a_corrected_result_moves_the_figures_and_no_counter_falls(
        engine: Engine) -> None:
    repo, figures = engine.callbacks, engine.callback_figures
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


# --- maintained counts (014_callback_tallies.sql) against a recount -----------------------

MARGIN = timedelta(minutes=30)
PHONES = [f"+4477009001{i:02d}" for i in range(6)]  # few, so erasures meet open callbacks


# counts()'s old recount queries in each engine's words: the conditions of the triggers
# (SQLite's 014, PostgreSQL's 003): change them together
RECOUNT = {
    "sqlite": (
        "SELECT closed_result, COUNT(*), SUM(extensions > 0) FROM callbacks "
        "WHERE status = 'closed' GROUP BY closed_result",
        "SELECT j.value, COUNT(*) FROM callbacks, json_each(callbacks.corrections) j "
        "WHERE corrections IS NOT NULL GROUP BY j.value",
        "SELECT status, COUNT(*), SUM(due_by < ?1), "
        "SUM(due_by >= ?1 AND due_by < ?2 AND attempt_count = 0), "
        "SUM(due_by >= ?1 AND due_by < ?3), SUM(extensions > 0) "
        "FROM callbacks WHERE status != 'closed' GROUP BY status"),
    "postgres": (
        "SELECT closed_result, COUNT(*), COUNT(*) FILTER (WHERE extensions > 0) FROM callbacks"
        " WHERE status = 'closed' GROUP BY closed_result",
        "SELECT j.value, COUNT(*) FROM callbacks,"
        " jsonb_array_elements_text(callbacks.corrections) AS j (value)"
        " WHERE corrections IS NOT NULL GROUP BY j.value",
        "SELECT status, COUNT(*), COUNT(*) FILTER (WHERE due_by < $1), "
        "COUNT(*) FILTER (WHERE due_by >= $1 AND due_by < $2 AND attempt_count = 0), "
        "COUNT(*) FILTER (WHERE due_by >= $1 AND due_by < $3), "
        "COUNT(*) FILTER (WHERE extensions > 0) "
        "FROM callbacks WHERE status != 'closed' GROUP BY status"),
}


async def recount(engine: Engine, now: datetime, margin: timedelta) -> CallbackCounts:
    """counts() as it was before migration 014: every callback ever made, re-grouped. The
    reference the maintained counters must always equal (bench/callback_figures.py too)."""
    t, db = now.timestamp(), engine.db
    closed_sql, fixes_sql, open_sql = RECOUNT[engine.engine]
    promised = await db.fetch_all("SELECT source, COUNT(*) FROM callbacks GROUP BY source")
    closed = await db.fetch_all(closed_sql)
    fixes = await db.fetch_all(fixes_sql)
    open_rows = await db.fetch_all(open_sql, (t, t + margin.total_seconds(), t + 3600))
    return CallbackCounts(
        promised={r[0]: r[1] for r in promised},
        closed={r[0]: r[1] for r in closed if r[0]},
        corrected={tuple(r[0].split(">", 1)): r[1] for r in fixes if ">" in r[0]},
        extended=sum(r[2] or 0 for r in closed) + sum(r[5] or 0 for r in open_rows),
        open_by_state={r[0]: r[1] for r in open_rows},
        overdue=sum(r[2] or 0 for r in open_rows),
        at_risk=sum(r[3] or 0 for r in open_rows if r[0] == "pending"),
        due_next_hour=sum(r[4] or 0 for r in open_rows))


class History:
    """Random operations through the real repositories and domain rules, as the service
    makes them: each reads the callback afresh (a purge may have changed it meanwhile)."""

    def __init__(self, engine: Engine, seed: int) -> None:
        self.db, self.rng, self.now = engine.db, random.Random(seed), T0
        self.repo, self.retention = engine.callbacks, engine.retention
        self.ids: list[int] = []
        self.done: Counter[str] = Counter()

    async def step(self) -> str:
        self.now += timedelta(minutes=self.rng.randint(1, 20))
        ops = [self.create] * 3 + [self.attempt] * 3 + [self.close] * 2 + [
            self.correct, self.correct, self.extend, self.anonymise, self.erase, self.hand_edit]
        op = self.rng.choice(ops)
        await op()
        return op.__name__

    async def pick(self, *statuses: Status) -> Callback | None:
        found = [cb for cb in [await self.repo.get(i) for i in self.ids]
                 if cb.status in statuses and (cb.status is not Status.CLOSED
                                              or cb.result in CORRECTABLE)]
        return self.rng.choice(found) if found else None

    async def create(self) -> None:
        source = self.rng.choice(list(Source))
        due = self.now + timedelta(minutes=self.rng.choice([10, 25, 45, 90, 600, 2000]))
        cb = await self.repo.add(a_callback(self.rng.choice(PHONES), self.now, source=source,
                                            due_by=due))
        self.ids.append(cb.id or 0)
        self.done["created"] += 1

    async def attempt(self) -> None:
        cb = await self.pick(Status.PENDING, Status.DIALLING)
        if cb is None:
            return
        if cb.status is Status.PENDING:
            cb = start_attempt(cb, "PJSIP/agent1", f"ch-{self.now.timestamp()}", self.now)
        elif self.rng.random() < 0.2:
            cb = resident_answered(cb, self.now)
            cb = link_lost(cb, self.now, POLICY)  # an agent must say what happened
        else:
            outcome = self.rng.choice([AttemptOutcome.REACHED, AttemptOutcome.NO_ANSWER,
                                       AttemptOutcome.BUSY, AttemptOutcome.AGENT_NO_ANSWER])
            cb = finish_attempt(resident_answered(cb, self.now), outcome, self.now, POLICY)
        await self.repo.update(cb)
        self.done[cb.status.value] += 1

    async def close(self) -> None:
        cb = await self.pick(Status.PENDING, Status.NEEDS_OUTCOME)
        if cb is None:
            return
        how = self.rng.choice(["reached", "cancel", "expire"])
        if how == "cancel" or (how == "expire" and cb.status is not Status.PENDING):
            cb = cancel(cb, "the resident phoned in", "Sam (agent)", self.now)
        elif how == "expire":
            cb = expire(cb, self.now)
        else:  # kept, or late once the deadline has passed
            cb = record_outcome(cb, AttemptOutcome.REACHED, "Sam (agent)", self.now, POLICY)
        await self.repo.update(cb)
        self.done[cb.result.value if cb.result else "?"] += 1

    async def correct(self) -> None:
        cb = await self.pick(Status.CLOSED)
        if cb is None:
            return
        to = self.rng.choice([r for r in CORRECTABLE if r is not cb.result])
        await self.repo.update(correct_result(cb, to, "it was voicemail", "Jo (manager)",
                                              self.now))
        self.done["corrected"] += 1

    async def extend(self) -> None:
        cb = await self.pick(Status.PENDING, Status.DIALLING, Status.NEEDS_OUTCOME)
        if cb is None:
            return
        later = self.rng.random() < 0.8  # else brought forward: not an extension
        due = (max(cb.due_by, self.now) + timedelta(hours=2) if later
               else self.now + (max(cb.due_by, self.now) - self.now) / 2 + timedelta(minutes=1))
        await self.repo.update(reschedule(cb, due, "surveyor delayed", Told.PHONE,
                                          "Jo (manager)", self.now, POLICY))
        self.done["extended" if due > cb.due_by else "brought forward"] += 1

    async def anonymise(self) -> None:
        self.done["anonymised"] += await self.retention.anonymise(
            Kind.CALLBACKS, self.now - timedelta(minutes=30), self.rng.randint(1, 5))

    async def erase(self) -> None:
        try:
            changed = await self.retention.erase(self.rng.choice(PHONES))
        except Conflict:  # an open callback needs the number
            return
        self.done["erased"] += changed.counts[Kind.CALLBACKS]

    async def hand_edit(self) -> None:
        """What the service never does and a repair by hand might: delete a callback, or
        change its source. The triggers keep the counters right through those too."""
        if not self.ids:
            return
        victim = self.rng.choice(self.ids)
        async with self.db.write() as conn:
            if self.rng.random() < 0.5:
                await conn.execute("DELETE FROM callbacks WHERE id = ?", (victim,))
                self.ids.remove(victim)
                self.done["deleted"] += 1
            else:
                await conn.execute("UPDATE callbacks SET source = ? WHERE id = ?",
                                   (self.rng.choice(list(Source)).value, victim))
                self.done["source changed"] += 1


async def test_maintained_counts_equal_a_recount_after_any_sequence(engine: Engine) -> None:
    history, figures = History(engine, seed=16), engine.callback_figures
    for n in range(400):
        op = await history.step()
        counts = await figures.counts(history.now, MARGIN)
        assert counts == await recount(engine, history.now, MARGIN), (
            f"after step {n} ({op}); so far {dict(history.done)}")
        history.done.update(k for k in ("at_risk", "overdue", "due_next_hour")
                            if getattr(counts, k))
    # the sequence went everywhere it should (a change of seed must keep this true)
    every = {"created", "kept", "late", "missed", "cancelled", "corrected", "extended",
             "brought forward", "anonymised", "erased", "deleted", "source changed",
             "dialling", "needs_outcome", "pending", "at_risk", "overdue", "due_next_hour"}
    assert every <= {k for k, n in history.done.items() if n}, dict(history.done)


async def test_the_migration_fills_the_counters_from_callbacks_already_stored(
        tmp_path: Path) -> None:
    """A database from before 014 with a history of callbacks: after the upgrade the
    counters equal a recount, and the triggers keep them so. The history is made by today's
    code, then copied into the old schema with the columns it had."""
    made = Database(tmp_path / "made.sqlite3")
    await made.open()
    await made.migrate()
    history = History(repositories_on(made), seed=2026)
    for _ in range(150):
        await history.step()
    await made.close()
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as con:
        for version, _, sql in migrations():
            if version < 14:
                con.executescript(sql)
                con.execute(f"PRAGMA user_version={version}")
        columns = ", ".join(r[1] for r in con.execute("PRAGMA table_info(callbacks)"))
        con.execute("ATTACH DATABASE ? AS made", (str(tmp_path / "made.sqlite3"),))
        con.execute(f"INSERT INTO callbacks ({columns}) SELECT {columns} FROM made.callbacks")
    db = Database(path)
    await db.open()
    try:
        engine = repositories_on(db)
        history.db, history.repo, history.retention = db, engine.callbacks, engine.retention
        figures = engine.callback_figures
        assert await db.migrate() >= 14  # the runner splits the triggers' bodies rightly
        counts = await figures.counts(history.now, MARGIN)
        assert counts == await recount(engine, history.now, MARGIN)
        assert sum(counts.promised.values()) == len(history.ids) > 0 and counts.corrected
        for _ in range(50):
            await history.step()
        assert await figures.counts(history.now, MARGIN) == await recount(
            engine, history.now, MARGIN)
    finally:
        await db.close()


async def test_the_figures_read_the_open_callbacks_and_the_period_not_the_history(
        db: Database) -> None:
    """The plans SQLite makes (EXPLAIN QUERY PLAN): counts() reads the counters and the
    partial index of open callbacks; period() two covering indexes, each a range."""
    async def plan(sql: str, args: int) -> str:
        rows = await db.fetch_all(f"EXPLAIN QUERY PLAN {sql}", (0.0,) * args)
        return " | ".join(r[3] for r in rows)

    counts = await plan(figures_sql._COUNTS, 3)
    assert "SCAN callback_tallies" in counts
    assert "SCAN callbacks USING COVERING INDEX callbacks_open" in counts
    assert "TEMP B-TREE" not in counts  # grouped in the index's order (status first)
    for site, n in (("", 2), (" AND site = ?", 3)):  # the council's, and one site's
        assert await plan(figures_sql._MADE.format(site=site), n) == (
            "SEARCH callbacks USING COVERING INDEX callbacks_created "
            "(created_at>? AND created_at<?)")
        assert (await plan(figures_sql._DUE.format(site=site), n)).startswith(
            "SEARCH callbacks USING COVERING INDEX callbacks_due_results (due_by>? AND due_by<?)")
        assert await plan(figures_sql.SqlCallbackFigures._SURVEYED.format(site=site), n) == (
            "SEARCH callbacks USING COVERING INDEX callbacks_surveyed (due_by>? AND due_by<?)")
    # the dialler's rebuild (callback_repository.due_before): the pending ones due, in order,
    # every site's or one site's
    due_before = SqliteCallbackRepository._DUE_BEFORE
    assert await plan(due_before.format(site=""), 1) == (
        "SEARCH callbacks USING COVERING INDEX callbacks_due (next_attempt_at<?)")
    assert await plan(due_before.format(site="AND site = ? "), 2) == (
        "SEARCH callbacks USING COVERING INDEX callbacks_due (next_attempt_at<?)")

