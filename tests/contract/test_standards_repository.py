"""The SQL aggregate agrees with the pure definitions over the same random calls."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import replace
from datetime import date, timedelta

import pytest

from callcentre.domain.calls import Call, EndSource, Outcome
from callcentre.domain.standards import Figures, wait_bucket
from callcentre.storage.call_repository import SqliteCallRepository
from callcentre.storage.db import Database
from callcentre.storage.ledger_repository import SqliteLedgerRepository
from callcentre.storage.standards_repository import SqliteStandardsRepository
from callcentre.testing import utc

T0 = utc(2026, 11, 23, 8, 0)


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


def reference(calls: list[Call], queue: str | None) -> Figures:
    chosen = [c for c in calls if T0 <= c.arrived_at < T0 + timedelta(days=1)
              and (queue is None or c.queue == queue)]
    answered = [c for c in chosen if c.outcome is Outcome.ANSWERED]
    return Figures(
        outcomes=dict(Counter(c.outcome.value for c in chosen if c.outcome)),
        answered_waits=dict(Counter(wait_bucket(c.wait_seconds or 0) for c in answered)),
        abandoned_waits=dict(Counter(wait_bucket(c.wait_seconds or 0) for c in chosen
                                     if c.outcome is Outcome.ABANDONED)),
        answered_wait_sum=sum(c.wait_seconds or 0 for c in answered),
        repeats=sum(c.repeat_of is not None for c in chosen),
        out_of_hours=sum(c.out_of_hours for c in chosen))


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("queue", [None, "a"])
async def test_sql_aggregate_matches_the_definitions(db: Database, seed: int,
                                                     queue: str | None) -> None:
    calls = random_calls(400, seed)
    await SqliteCallRepository(db).save(calls)
    got = await SqliteStandardsRepository(db).figures(T0, T0 + timedelta(days=1), queue)
    want = reference(calls, queue)
    assert got.outcomes == want.outcomes
    assert got.answered_waits == want.answered_waits
    assert got.abandoned_waits == want.abandoned_waits
    assert got.answered_wait_sum == pytest.approx(want.answered_wait_sum)
    assert (got.repeats, got.out_of_hours) == (want.repeats, want.out_of_hours)


async def test_cache_round_trip(db: Database) -> None:
    repo = SqliteStandardsRepository(db)
    f = Figures({"answered": 2}, {3: 1, 25: 1}, {4: 1}, 28.5, 1, 0)
    await repo.store(date(2026, 11, 1), None, f, T0)
    await repo.store(date(2026, 11, 1), "a", Figures(), T0)
    assert await repo.cached([date(2026, 11, 1), date(2026, 11, 2)], None) == {date(2026, 11, 1): f}


async def test_queues_are_listed_once_each_in_order(db: Database) -> None:
    await SqliteCallRepository(db).save(random_calls(50, 4))
    assert await SqliteStandardsRepository(db).queues() == ["a", "b"]


async def test_calls_checked_and_corrected_by_queue_log_are_counted_and_uncached(
        db: Database) -> None:
    calls, repo = SqliteCallRepository(db), SqliteStandardsRepository(db)
    ledger = SqliteLedgerRepository(db)
    saved = await calls.save(random_calls(6, seed=7))
    day = T0.date()
    await repo.store(day, None, Figures(), T0)
    await ledger.settle(saved[0].linkedid, saved[0], "agrees", T0, day)
    assert await repo.cached([day], None) == {}  # settling forgets the day's cached figures
    fixed = replace(saved[1], outcome=Outcome.ANSWERED)
    await ledger.settle(saved[1].linkedid, fixed, "outcome: abandoned -> answered", T0, day)
    f = await repo.figures(T0 - timedelta(days=1), T0 + timedelta(days=3), None)
    assert (f.checked, f.corrected) == (2, 1)
