"""Lists of calls page in constant time on PostgreSQL too (#16): with a year of calls and
their statistics, every filter GET /api/calls takes, on the first page and a deep one, is
an index walked in the list's order that stops after the page: no sort of the window. A
case has a handful of calls: sorting those is constant too, so a case may be sorted."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

from callcentre.domain.paging import Keyset
from callcentre.ports import CallQuery
from callcentre.storage.call_repository import call_filters, page_query
from callcentre.storage.filters import where
from callcentre.storage.postgres.db import PgDatabase
from tests.adapters.test_call_plans import COMBINATIONS, FILTERS, T0

pytestmark = pytest.mark.postgres
CALLS = 50_000  # a year of a small council's calls, one every 10 minutes


async def a_year_of_calls(db: PgDatabase) -> None:
    async with db.write() as tx:
        # the figures' triggers skipped (not what is tested here): one statement updating
        # the same few figure rows 50,000 times would take most of a minute
        await tx.execute("SET LOCAL session_replication_role = replica")
        await tx.execute(
            "INSERT INTO calls (linkedid, channel, arrived_at, queue, outcome, case_ref)"
            " SELECT 'c' || i, 'PJSIP/x', ? + i * 600,"
            " (ARRAY['council', 'housing', 'bins'])[1 + i % 3],"
            " (ARRAY['answered', 'answered', 'answered', 'abandoned', 'timeout'])[1 + i % 5],"
            " CASE WHEN i % 1000 = 0 THEN 'BIN-42' WHEN i % 7 = 0 THEN 'C-' || i END"
            f" FROM generate_series(1, {CALLS}) AS i", (T0.timestamp(),))
    async with db.write() as tx:
        await tx.execute("ANALYZE calls")


def nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [plan, *(n for child in plan.get("Plans", []) for n in nodes(child))]


async def test_no_filter_sorts_a_window(pg_db: PgDatabase) -> None:
    await a_year_of_calls(pg_db)
    deep = Keyset(T0.timestamp() + CALLS * 300.5, CALLS // 2)
    for names, cursor in itertools.product(COMBINATIONS, (None, deep)):
        filters = {k: v for name in names for k, v in FILTERS[name].items()}
        sql, args = page_query(where(call_filters(CallQuery(**filters, limit=50,
                                                            cursor=cursor))), 50)
        (row,) = await pg_db.fetch_all(f"EXPLAIN (FORMAT JSON) {sql}", args)
        plan = json.loads(row[0])[0]["Plan"]
        kinds = [n["Node Type"] for n in nodes(plan)]
        assert plan["Node Type"] == "Limit", (names, kinds)
        if "case" not in names:
            assert "Sort" not in kinds and "Seq Scan" not in kinds, (names, kinds)
