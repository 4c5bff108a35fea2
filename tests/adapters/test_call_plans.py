"""Lists of calls page in constant time (#16): for every filter GET /api/calls takes, on
every page, SQLite walks an index in the list's order and never sorts (EXPLAIN QUERY PLAN
has no temporary B-tree). A fair test of speed that measures nothing."""

from __future__ import annotations

import itertools
import random
from datetime import timedelta

import pytest

from callcentre.domain.calls import Outcome
from callcentre.domain.paging import Keyset
from callcentre.ports import CallQuery
from callcentre.storage.call_repository import list_query
from callcentre.storage.db import Database
from callcentre.testing import utc

T0 = utc(2026, 11, 23, 9)
FILTERS = {
    "since": {"since": T0}, "until": {"until": T0 + timedelta(days=365)},
    "queue": {"queue": "council"}, "outcome": {"outcome": Outcome.ABANDONED},
    "case": {"case_ref": "BIN-42"},
}
COMBINATIONS = [c for n in range(len(FILTERS) + 1) for c in itertools.combinations(FILTERS, n)]


def expected_index(names: tuple[str, ...]) -> str:
    if "case" in names:  # a handful of calls: its own index, whatever else is asked
        return "calls_case_arrived"
    return {(True, True): "calls_queue_outcome_arrived", (True, False): "calls_queue_arrived",
            (False, True): "calls_outcome_arrived", (False, False): "calls_arrived"}[
        ("queue" in names, "outcome" in names)]


async def plan(db: Database, names: tuple[str, ...], page: int) -> list[str]:
    filters = {k: v for name in names for k, v in FILTERS[name].items()}
    cursor = Keyset(T0.timestamp() + 3600.5, 1234) if page > 1 else None
    sql, args = list_query(CallQuery(**filters, limit=50, cursor=cursor))
    return [row["detail"] for row in await db.fetch_all(f"EXPLAIN QUERY PLAN {sql}", args)]


@pytest.mark.parametrize("page", [1, 2])
@pytest.mark.parametrize("names", COMBINATIONS, ids=lambda c: "+".join(c) or "none")
async def test_every_filter_walks_its_index_in_order(db: Database, names: tuple[str, ...],
                                                     page: int) -> None:
    steps = await plan(db, names, page)
    assert not [s for s in steps if "TEMP B-TREE" in s], steps
    assert len(steps) == 1 and f"USING INDEX {expected_index(names)} " in steps[0] + " ", steps


async def test_with_statistics_no_filter_sorts_either(db: Database) -> None:
    # ANALYZE (which the service never runs, but an operator may) lets the planner weigh
    # the indexes; whichever it takes must still serve the order
    rng = random.Random(16)
    async with db.write() as conn:
        await conn.executemany(
            "INSERT INTO calls (linkedid, channel, arrived_at, queue, outcome, case_ref) "
            "VALUES (?, 'PJSIP/x', ?, ?, ?, ?)",
            [(f"{n}.0", T0.timestamp() + n * 60, rng.choice(["council", "housing", "tax"]),
              rng.choice(list(Outcome)).value, f"R-{n}" if n % 20 == 0 else None)
             for n in range(3000)])
        await conn.execute("ANALYZE")
    for names in COMBINATIONS:
        for page in (1, 2):
            steps = await plan(db, names, page)
            assert not [s for s in steps if "TEMP B-TREE" in s], (names, steps)
