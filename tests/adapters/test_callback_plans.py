"""Lists of callbacks page in constant time (#16): for every filter GET /api/callbacks takes,
in both orders, on every page, SQLite walks an index in the list's order and never sorts
(EXPLAIN QUERY PLAN has no temporary B-tree). A fair test of speed that measures nothing."""

from __future__ import annotations

import itertools
import random
from datetime import timedelta

import pytest

from callcentre.domain.callbacks import Status
from callcentre.domain.paging import Keyset
from callcentre.ports import CallbackQuery
from callcentre.storage.callback_repository import list_query
from callcentre.storage.db import Database
from callcentre.testing import utc

T0 = utc(2026, 11, 23, 9)
FILTERS = {
    "status": {"status": Status.CLOSED}, "owner": {"owner": "Agent 1"},
    "due_from": {"due_from": T0}, "due_until": {"due_until": T0 + timedelta(days=365)},
    "case": {"case_ref": "BIN-42"}, "phone": {"phone": "+447700900123"},
}
COMBINATIONS = [c for n in range(len(FILTERS) + 1) for c in itertools.combinations(FILTERS, n)]


def expected_indexes(names: tuple[str, ...]) -> set[str]:
    if "case" in names:  # a handful of callbacks: its own index, whatever else is asked
        return {"callbacks_case_due"}
    if "phone" in names:
        return {"callbacks_phone_due"}
    by = {"status": "callbacks_by_status", "owner": "callbacks_owner_due"}
    return {by[n] for n in names if n in by} or {"callbacks_by_deadline"}


async def plan(db: Database, names: tuple[str, ...], page: int, soonest: bool) -> list[str]:
    filters = {k: v for name in names for k, v in FILTERS[name].items()}
    cursor = Keyset(T0.timestamp() + 3600.5, 1234) if page > 1 else None
    sql, args = list_query(CallbackQuery(**filters, limit=50, soonest_first=soonest,
                                         cursor=cursor))
    return [row["detail"] for row in await db.fetch_all(f"EXPLAIN QUERY PLAN {sql}", args)]


def walks_one_index_in_order(steps: list[str], indexes: set[str]) -> bool:
    return (not [s for s in steps if "TEMP B-TREE" in s] and len(steps) == 1
            and any(f"USING INDEX {index} " in steps[0] + " " for index in indexes))


@pytest.mark.parametrize("soonest", [False, True], ids=["latest", "soonest"])
@pytest.mark.parametrize("page", [1, 2])
@pytest.mark.parametrize("names", COMBINATIONS, ids=lambda c: "+".join(c) or "none")
async def test_every_filter_walks_its_index_in_order(db: Database, names: tuple[str, ...],
                                                     page: int, soonest: bool) -> None:
    steps = await plan(db, names, page, soonest)
    assert walks_one_index_in_order(steps, expected_indexes(names)), steps


async def test_with_statistics_no_filter_sorts_either(db: Database) -> None:
    # ANALYZE (which the service never runs, but an operator may) lets the planner weigh
    # the indexes; whichever it takes must still serve the order
    rng = random.Random(16)
    async with db.write() as conn:
        await conn.executemany(
            "INSERT INTO callbacks (version, case_ref, phone, reason, source, promised_by, "
            "owner, status, not_before, due_by, created_at, attempts, history, language) "
            "VALUES (1, ?, ?, 'r', 'agent', 'Sam', ?, ?, ?, ?, ?, '[]', '[]', 'en')",
            [(f"R-{n // 3}", f"+4477009{n // 2:05d}", rng.choice(["Agent 1", "Agent 2", None]),
              rng.choice(list(Status)).value, T0.timestamp() + n * 60,
              T0.timestamp() + n * 60 + rng.randrange(3600, 86400), T0.timestamp() + n * 60)
             for n in range(3000)])
        await conn.execute("ANALYZE")
    for names in COMBINATIONS:
        for page, soonest in itertools.product((1, 2), (False, True)):
            steps = await plan(db, names, page, soonest)
            assert not [s for s in steps if "TEMP B-TREE" in s], (names, page, soonest, steps)
