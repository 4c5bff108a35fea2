"""The capacity history on both engines: each UTC half-hour's sums (kept by triggers:
SQLite's migration 019, PostgreSQL's 006) are what the calls give by the model's definitions, for a queue and for every
queue, through every change a call goes through, and as the migration fills them; callback
attempts and last week's agents as the window's rows say."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from callcentre.domain.callbacks import Attempt, AttemptOutcome, Status
from callcentre.domain.calls import Call, Outcome
from callcentre.domain.capacity import SLOT_SECONDS, HalfHour
from callcentre.domain.standards import OFFERED_OUTCOMES
from callcentre.ports import Queues
from callcentre.storage.db import migrations
from callcentre.storage.engines import Repositories
from callcentre.storage.postgres.db import MIGRATIONS
from tests import engines
from tests.contract.test_callback_repository import a_callback
from tests.contract.test_standards_repository import T0, random_calls
from tests.engines import ENGINES

START, END = T0 - timedelta(hours=1), T0 + timedelta(hours=20)
Engine = Repositories


@pytest.fixture(params=ENGINES)
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Engine]:
    async with AsyncExitStack() as stack:
        yield await engines.stores_for(request, stack, tmp_path)


def the_fill(engine: Engine) -> str:
    """The capacity migration's last statement: the table filled from the calls."""
    if engine.engine == "postgres":
        (sql,) = [text for _, name, text in migrations(MIGRATIONS)
                  if name.endswith("_capacity_half_hours.sql")]
    else:
        (sql,) = [text for _, name, text in migrations() if name.startswith("019_")]
    return sql.strip().rsplit("\n\n", 1)[-1]


def _start(t: datetime) -> datetime:
    return datetime.fromtimestamp(t.timestamp() // SLOT_SECONDS * SLOT_SECONDS, UTC)


def _of(queue: Queues, name: str | None) -> bool:
    return queue is None or (name == queue if isinstance(queue, str) else name in queue)


def reference(calls: list[Call], queue: Queues) -> dict[datetime, HalfHour]:
    sums: dict[datetime, list[float]] = defaultdict(lambda: [0.0] * 7)
    for c in calls:
        if (c.outcome is None or not START <= c.arrived_at < END or c.out_of_hours
                or not _of(queue, c.queue)):
            continue
        if c.outcome.value not in OFFERED_OUTCOMES:
            continue
        s = sums[_start(c.arrived_at)]
        answered = c.outcome is Outcome.ANSWERED
        s[0] += 1
        s[1] += answered
        s[2] += (c.talk_seconds or 0.0) if answered else 0.0
        s[3] += answered and c.talk_seconds is not None
        s[4] += c.outcome is Outcome.ABANDONED
        s[5] += c.wait_seconds or 0.0
    return {t: HalfHour(t, int(s[0]), int(s[1]), s[2], int(s[3]), int(s[4]), s[5])
            for t, s in sums.items()}


def _same(got: list[HalfHour], want: dict[datetime, HalfHour]) -> None:
    assert [h.start for h in got] == sorted(want)
    for h in got:
        w = want[h.start]
        assert (h.arrivals, h.answered, h.talked, h.abandoned) == (
            w.arrivals, w.answered, w.talked, w.abandoned)
        assert h.talk_seconds == pytest.approx(w.talk_seconds, abs=1e-6)
        assert h.waited_seconds == pytest.approx(w.waited_seconds, abs=1e-6)


@pytest.mark.parametrize("queue", [None, "a", ("a", "c")])  # ("a", "c"): a site's queues
async def test_half_hours_sum_the_window_by_the_models_definitions(
        engine: Engine, queue: Queues) -> None:
    calls = [replace(c, talk_ended_at=c.answered_at + timedelta(seconds=i % 400))
             if c.answered_at else c for i, c in enumerate(random_calls(400, seed=4))]
    stored = await engine.calls.save(calls)
    got = await engine.capacity.half_hours(START, END, queue)
    _same([replace(h, callback_seconds=0.0) for h in got], reference(stored, queue))


async def test_the_kept_half_hours_follow_every_change_and_the_migrations_fill(
        engine: Engine) -> None:
    repo, db, history = engine.calls, engine.db, engine.capacity
    calls = random_calls(300, seed=6)
    await repo.save([replace(c, outcome=None, end_source=None) for c in calls])  # in progress
    assert await history.half_hours(START, END, None) == []
    stored = await repo.save(calls)
    async with db.write() as conn:  # corrections (as the ledger's), a closure flag, erasures
        await conn.execute("UPDATE calls SET outcome = 'answered', queue = 'c',"
                           " talk_ended_at = ended_at WHERE id % 5 = 0")
        await conn.execute("UPDATE calls SET out_of_hours = NOT out_of_hours WHERE id % 7 = 0")
        await conn.execute("DELETE FROM calls WHERE id % 11 = 0")
    now = [await repo.get(c.id or 0) for c in stored if (c.id or 0) % 11]
    for queue in (None, "a", "c"):
        _same(await history.half_hours(START, END, queue),
              reference(now, queue))
    assert (await history.rebuild()).differed == 0  # a recount agrees
    kept = await db.fetch_all("SELECT * FROM capacity_half_hours WHERE arrivals != 0"
                              " ORDER BY queue, start")
    async with db.write() as conn:
        await conn.execute("DELETE FROM capacity_half_hours")
        await conn.execute(the_fill(engine))
    assert [tuple(r) for r in await db.fetch_all(
        "SELECT * FROM capacity_half_hours ORDER BY queue, start")] == [tuple(r) for r in kept]


async def test_callback_attempts_count_agents_time_for_every_queue_only(
        engine: Engine) -> None:
    repo = engine.callbacks
    cb = await repo.add(a_callback(at=T0))
    tries = (Attempt(1, T0 + timedelta(minutes=5), "c1", "PJSIP/a", T0 + timedelta(minutes=9),
                     AttemptOutcome.NO_ANSWER),
             Attempt(2, T0 + timedelta(minutes=40), "c2", "PJSIP/a",
                     T0 + timedelta(minutes=41), AttemptOutcome.NO_ANSWER),
             Attempt(3, END + timedelta(minutes=1), "c3", "PJSIP/a"))  # outside, unfinished
    await repo.update(replace(cb, attempts=tries, status=Status.PENDING))
    history = engine.capacity
    got = {h.start: h.callback_seconds for h in await history.half_hours(START, END, None)}
    assert got == {_start(T0): 240.0, _start(T0 + timedelta(minutes=40)): 60.0}
    assert await history.half_hours(START, END, "a") == []


async def test_a_sites_queues_count_that_sites_callback_attempts(engine: Engine) -> None:
    """Several PBXs: a site's model pools its queues and its own callbacks' attempts."""
    for site, minutes in (("", 4), ("north", 7)):
        cb = await engine.callbacks.add(a_callback(at=T0, site=site))
        tried = (Attempt(1, T0, f"c-{site}", "PJSIP/a", T0 + timedelta(minutes=minutes),
                         AttemptOutcome.NO_ANSWER),)
        await engine.callbacks.update(replace(cb, attempts=tried, status=Status.PENDING))
    history = engine.capacity
    for site, seconds in (("", 240.0), ("north", 420.0)):
        got = await history.half_hours(START, END, (), site)  # a site with no calls yet
        assert [(h.start, h.callback_seconds, h.arrivals) for h in got] == [
            (_start(T0), seconds, 0)]
    every = await history.half_hours(START, END, None)
    assert [h.callback_seconds for h in every] == [660.0]


@pytest.mark.parametrize("queue", [None, "a", ("a", "c"), ()])
async def test_agents_are_the_different_agents_who_answered_in_each_half_hour(
        engine: Engine, queue: Queues) -> None:
    calls = [replace(c, agent_interface=f"PJSIP/{i % 3}") for i, c in
             enumerate(random_calls(300, seed=5))]
    stored = await engine.calls.save(calls)
    want: dict[datetime, set[str]] = defaultdict(set)
    for c in stored:
        if (c.answered_at and c.agent_interface and START <= c.arrived_at < END
                and _of(queue, c.queue)):
            want[_start(c.answered_at)].add(c.agent_interface)
    got = await engine.capacity.agents(START, END, queue)
    assert {h.start: h.agents for h in got} == {t: len(a) for t, a in want.items()}
