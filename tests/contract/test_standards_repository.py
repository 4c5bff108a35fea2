"""The figures kept per day (SQLite's migration 013 triggers, PostgreSQL's 002) agree with
the pure definitions over the same random calls, through every change a call goes through,
and with a recount: on both engines."""

from __future__ import annotations

import contextlib
import random
import sqlite3
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from callcentre.domain.calls import Call, EndSource, Outcome
from callcentre.domain.standards import Figures, wait_bucket
from callcentre.ports import Queues
from callcentre.storage.db import Database
from callcentre.storage.engines import Repositories
from callcentre.storage.standards_repository import ALL_QUEUES, QUEUES, Rebuilt
from callcentre.testing import utc
from tests import engines
from tests.engines import ENGINES

T0 = utc(2026, 11, 23, 8, 0)
LONDON = ZoneInfo("Europe/London")
DAY = T0.date()


def random_calls(n: int, seed: int) -> list[Call]:
    rng = random.Random(seed)
    calls = []
    for i in range(n):
        arrived = T0 + timedelta(minutes=rng.uniform(0, 60 * 30))
        outcome = rng.choice(list(Outcome))
        wait = rng.choice([0.0, 5.0, 20.0, rng.uniform(0, 120)])
        call = Call(linkedid=f"{i}", channel="c", arrived_at=arrived, queue=rng.choice("ab"),
                    caller="+447700900123", outcome=outcome, end_source=EndSource.HANGUP,
                    out_of_hours=rng.random() < 0.2, repeat_of=1 if rng.random() < 0.3 else None,
                    ended_at=arrived + timedelta(seconds=wait + 1))
        if outcome is not Outcome.HUNG_UP_BEFORE_QUEUE:
            queued = arrived + timedelta(seconds=1)
            end = queued + timedelta(seconds=wait)
            call = replace(call, queued_at=queued,
                           answered_at=end if outcome is Outcome.ANSWERED else None,
                           left_queue_at=None if outcome is Outcome.ANSWERED else end)
        calls.append(call)
    return calls


def chosen_by(queue: Queues, call: Call) -> bool:
    """Is ``call`` one of ``queue``'s: one queue, several (a site's), or None for all?"""
    return queue is None or call.queue in ((queue,) if isinstance(queue, str) else queue)


def reference(calls: list[Call], queue: Queues, day: date = DAY) -> Figures:
    """The figures of ``day`` (London) by the published definitions, from the calls."""
    chosen = [c for c in calls if c.arrived_at.astimezone(LONDON).date() == day
              and c.outcome is not None and chosen_by(queue, c)]
    answered = [c for c in chosen if c.outcome is Outcome.ANSWERED]
    return Figures(
        outcomes=dict(Counter(c.outcome.value for c in chosen if c.outcome)),
        answered_waits=dict(Counter(wait_bucket(c.wait_seconds) for c in answered
                                    if c.wait_seconds is not None)),
        abandoned_waits=dict(Counter(wait_bucket(c.wait_seconds) for c in chosen  # queued
                                     if c.outcome is Outcome.ABANDONED
                                     and c.wait_seconds is not None)),
        answered_wait_sum=sum(c.wait_seconds or 0 for c in answered),
        repeats=sum(c.repeat_of is not None for c in chosen),
        out_of_hours=sum(c.out_of_hours for c in chosen),
        checked=sum(c.ledger is not None for c in chosen),
        corrected=sum(c.ledger not in (None, "agrees") for c in chosen))


def same(got: Figures, want: Figures) -> None:
    assert replace(got, answered_wait_sum=0) == replace(want, answered_wait_sum=0)
    assert got.answered_wait_sum == pytest.approx(want.answered_wait_sum, abs=1e-3)


Engine = Repositories


@pytest.fixture(params=ENGINES)
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Engine]:
    async with AsyncExitStack() as stack:
        yield await engines.stores_for(request, stack, tmp_path)


async def figures_of(engine: Engine, day: date, queue: Queues) -> Figures:
    figures: Figures = await engine.standards.figures(day, day + timedelta(days=1), queue)
    return figures


@pytest.fixture
async def repo(engine: Engine) -> Any:
    assert await engine.standards.prepare(LONDON) is not None  # the first start: London
    return engine.standards


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("queue", [None, "a", ("a",), ("a", "b"), ()])
async def test_the_kept_figures_match_the_definitions(
        engine: Engine, repo: Any, seed: int, queue: Queues) -> None:
    calls = random_calls(400, seed)
    await engine.calls.save(calls)
    for day in (T0.date(), T0.date() + timedelta(days=1)):
        same(await figures_of(engine, day, queue), reference(calls, queue, day))
    assert await repo.rebuild() == Rebuilt(rows=await _rows(engine), differed=0)


async def test_figures_follow_every_change_to_a_call_exactly(engine: Engine, repo: Any) -> None:
    """In progress, finished, settled by queue_log (outcome, wait and queue corrected),
    anonymised: the kept figures are what a recount gives, every step of the way."""
    calls, ledger = engine.calls, engine.ledger
    finished = random_calls(120, seed=9)
    await calls.save([replace(c, outcome=None, end_source=None) for c in finished])
    assert await figures_of(engine, T0.date(), None) == Figures()  # nothing is finished yet
    saved = await calls.save(finished)
    rng = random.Random(9)
    for call in rng.sample(saved, 40):
        fixed = replace(call, outcome=rng.choice(list(Outcome)), queue=rng.choice("abc"),
                        answered_at=None, left_queue_at=call.arrived_at + timedelta(seconds=7))
        verdict = "agrees" if fixed == call else "outcome: corrected"
        await ledger.settle(call.linkedid, fixed, verdict, T0)
    async with engine.db.write() as conn:  # what retention's anonymising does to a call
        await conn.execute("UPDATE calls SET caller = NULL, case_ref = NULL WHERE id % 3 = 0")
    stored = [await calls.get(c.id or 0) for c in saved]
    for day in (T0.date(), T0.date() + timedelta(days=1)):
        for queue in (None, "a", "b", "c", ("a", "c")):
            same(await figures_of(engine, day, queue), reference(stored, queue, day))
    assert (await repo.rebuild()).differed == 0


async def test_a_changed_time_zone_files_every_call_again(engine: Engine, repo: Any) -> None:
    late = utc(2026, 7, 1, 23, 30)  # 00:30 on 2 July in London (BST), 1 July in UTC
    await engine.calls.save([replace(random_calls(1, 5)[0], arrived_at=late,
                                                 outcome=Outcome.ANSWERED)])
    assert (await figures_of(engine, date(2026, 7, 2), None)).outcomes == {"answered": 1}
    assert await repo.prepare(LONDON) is None  # the same zone: nothing to do
    rebuilt = await repo.prepare(ZoneInfo("UTC"))
    assert rebuilt is not None and rebuilt.rows == 2  # all queues, and the call's queue
    assert (await figures_of(engine, date(2026, 7, 1), None)).outcomes == {"answered": 1}
    assert await figures_of(engine, date(2026, 7, 2), None) == Figures()


async def test_figures_that_drifted_are_found_and_repaired(engine: Engine, repo: Any) -> None:
    calls = random_calls(50, seed=11)
    await engine.calls.save(calls)
    async with engine.db.write() as conn:  # as a bug or a hand edit might
        await conn.execute("UPDATE figure_days SET n = n + 5 WHERE queue = '*'"
                           " AND outcome = 'answered'")
        await conn.execute("DELETE FROM figure_days WHERE queue = 'b'")
    assert (await repo.rebuild()).differed > 0
    same(await figures_of(engine, T0.date(), "b"), reference(calls, "b"))
    assert (await repo.rebuild()).differed == 0


async def test_queues_are_listed_once_each_in_order(engine: Engine, repo: Any) -> None:
    await engine.calls.save(random_calls(50, 4))
    assert await repo.queues() == ["a", "b"]


async def test_listing_the_queues_costs_the_same_however_long_the_history(
        db: Database, tmp_path: Path) -> None:
    """Work, not time: SQLite's virtual-machine steps for QUEUES, with a year of daily
    figures and with ten (the all-queue rows sort first and once were all read)."""
    def steps() -> int:
        count = [0]

        def tick() -> int:
            count[0] += 1
            return 0
        with contextlib.closing(sqlite3.connect(tmp_path / "cc.sqlite3")) as conn:
            conn.set_progress_handler(tick, 1)
            assert [r[0] for r in conn.execute(QUEUES, (ALL_QUEUES,))] == ["a", "b"]
        return count[0]

    async def history(first: int, days: int) -> None:
        async with db.write() as conn:
            await conn.executemany(
                "INSERT INTO figure_days VALUES (?, ?, 'answered', ?, 1, 0, 0, 0, 0, 0)",
                [(queue, (date(2000, 1, 1) + timedelta(days=d)).isoformat(), bucket)
                 for d in range(first, first + days) for queue in (ALL_QUEUES, "a", "b")
                 for bucket in range(5)])

    await history(0, 365)
    a_year = steps()
    await history(365, 9 * 365)
    assert a_year > 0 and steps() <= a_year + 10


async def _rows(engine: Engine) -> int:
    row = await engine.db.fetch_one("SELECT COUNT(*) FROM figure_days WHERE n != 0")
    assert row is not None
    return int(row[0])


def survey_reference(calls: list[Call], queue: Queues, day: date = DAY) -> dict[str, Any]:
    """The survey of ``day`` (London) by the published definitions, per agent."""
    from callcentre.domain.survey import SurveyTally, merge_tallies

    per: dict[str, list[SurveyTally]] = {}
    for c in calls:
        if (c.arrived_at.astimezone(LONDON).date() != day or c.outcome is None
                or not c.survey_offered or not chosen_by(queue, c)):
            continue
        per.setdefault(c.agent_name or c.agent_interface or "", []).append(SurveyTally(
            1, int(c.survey_resolved is not None or c.survey_satisfaction is not None),
            int(c.survey_resolved is not None), int(c.survey_resolved is True),
            int(c.survey_satisfaction is not None), c.survey_satisfaction or 0))
    return {agent: merge_tallies(ts) for agent, ts in per.items()}


# more queues than SURVEY_SEEKS: read by arrival, the site's queues kept
@pytest.mark.parametrize("queue", [None, "a", ("a", "b"), (), tuple("abcdefghij")])
async def test_the_survey_by_agent_matches_the_definitions(
        engine: Engine, repo: Any, queue: Queues) -> None:
    rng = random.Random(15)
    calls = []
    for made in random_calls(300, seed=15):
        call = made
        if call.outcome is Outcome.ANSWERED and rng.random() < 0.7:
            call = replace(made, agent_interface=rng.choice(["PJSIP/a1", "PJSIP/a2"]),
                           agent_name=rng.choice([None, "Agent One"]), survey_offered=True,
                           survey_resolved=rng.choice([None, True, False]),
                           survey_satisfaction=rng.choice([None, 1, 3, 5]))
        calls.append(call)
    await engine.calls.save(calls)
    for day in (DAY, DAY + timedelta(days=1)):
        got = await repo.survey(day, day + timedelta(days=1), queue)
        assert got == survey_reference(calls, queue, day)
    assert await repo.survey(DAY - timedelta(days=30), DAY, queue) == {}
