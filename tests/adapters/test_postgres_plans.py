"""Lists page in constant time on PostgreSQL too (#16): with a year of calls, ten years of
callbacks and their cases, and their statistics, every filter GET /api/calls,
/api/callbacks and /api/cases take, on the first page and a deep one (callbacks in both
orders), is an index walked in the list's order that stops after the page: no sort of the
window. A case's or a number's handful of records may be sorted: that is constant too."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

from callcentre.domain.cases import CaseStatus
from callcentre.domain.paging import Keyset
from callcentre.ports import CallbackQuery, CallQuery
from callcentre.storage.call_repository import call_filters, page_query
from callcentre.storage.callback_repository import list_query as callback_list
from callcentre.storage.case_repository import list_query as case_list
from callcentre.storage.filters import where
from callcentre.storage.postgres.db import PgDatabase
from tests.adapters.test_call_plans import COMBINATIONS, FILTERS, T0
from tests.adapters.test_callback_plans import COMBINATIONS as CALLBACK_COMBINATIONS
from tests.adapters.test_callback_plans import FILTERS as CALLBACK_FILTERS

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
            assert not {"Sort", "Seq Scan"} & set(kinds), (names, kinds)


CALLBACKS = 50_000


async def ten_years_of_callbacks(db: PgDatabase) -> None:
    async with db.write() as tx:
        await tx.execute("SET LOCAL session_replication_role = replica")  # no tallies: not tested
        await tx.execute(
            "INSERT INTO callbacks (version, phone, reason, language, source, promised_by,"
            " owner, not_before, due_by, created_at, status, case_ref)"
            " SELECT 1, '+4477009' || lpad((i % 5000)::text, 5, '0'), 'r', 'en', 'agent', 'S',"
            " CASE WHEN i % 4 = 0 THEN 'Agent 1' WHEN i % 4 = 1 THEN 'Agent 2' END,"
            " ? + i * 6000, ? + i * 6000 + 3600, ? + i * 6000,"
            " CASE WHEN i % 100 = 0 THEN 'pending' ELSE 'closed' END,"
            " CASE WHEN i % 1000 = 0 THEN 'BIN-42' ELSE 'C-' || i END"
            f" FROM generate_series(1, {CALLBACKS}) AS i", (T0.timestamp(),) * 3)
        await tx.execute("INSERT INTO cases (ref, subject, status, phone, created_at, updated_at)"
                         " SELECT 'C-' || lpad(i::text, 6, '0'), 's', CASE WHEN i % 50 = 0"
                         " THEN 'open' ELSE 'closed' END, '+4477009' || lpad((i % 5000)::text,"
                         f" 5, '0'), 0, 0 FROM generate_series(1, {CALLBACKS}) AS i")
    async with db.write() as tx:
        await tx.execute("ANALYZE callbacks")
        await tx.execute("ANALYZE cases")


async def kinds_of(db: PgDatabase, sql: str, args: list[Any]) -> list[str]:
    """The plan's nodes, each index scan with its index: ['Limit', 'Index Scan cases_pkey']."""
    (row,) = await db.fetch_all(f"EXPLAIN (FORMAT JSON) {sql}", args)
    return [" ".join(filter(None, (n["Node Type"], n.get("Index Name"))))
            for n in nodes(json.loads(row[0])[0]["Plan"])]


async def test_no_callback_or_case_list_sorts_a_window(pg_db: PgDatabase) -> None:
    await ten_years_of_callbacks(pg_db)
    deep = Keyset(T0.timestamp() + CALLBACKS * 3000.5, CALLBACKS // 2)
    for names, cursor, soonest in itertools.product(CALLBACK_COMBINATIONS, (None, deep),
                                                    (False, True)):
        filters = {k: v for name in names for k, v in CALLBACK_FILTERS[name].items()}
        query = CallbackQuery(**filters, limit=50, cursor=cursor, soonest_first=soonest)
        kinds = await kinds_of(pg_db, *callback_list(query, steer=False))
        assert kinds[0] == "Limit", (names, kinds)
        if "case" not in names and "phone" not in names:  # those have a handful each
            assert not {"Sort", "Seq Scan"} & set(kinds), (names, kinds)
    for status, phone, cursor in itertools.product((None, CaseStatus.OPEN),
                                                   (None, "+447700900123"), (None, "C-025000")):
        kinds = await kinds_of(pg_db, *case_list(status, phone, 50, cursor, steer=False))
        assert kinds[0] == "Limit" and "Seq Scan" not in kinds, (status, phone, kinds)
        if phone is None:  # the open cases are walked in ref order, not found among all
            index = "cases_status_ref" if status else "cases_pkey"
            assert kinds == ["Limit", f"Index Scan {index}"], (status, kinds)
