"""Lists of cases page in constant time (#16): for every filter GET /api/cases takes, on
every page, SQLite walks an index in ref order and never sorts or skips through the other
status (EXPLAIN QUERY PLAN). A fair test of speed that measures nothing."""

from __future__ import annotations

import itertools

import pytest

from callcentre.domain.cases import CaseStatus
from callcentre.storage.case_repository import list_query
from callcentre.storage.db import Database

FILTERS = ("status", "phone")
COMBINATIONS = [c for n in range(len(FILTERS) + 1) for c in itertools.combinations(FILTERS, n)]


def expected_index(names: tuple[str, ...]) -> str:
    if "phone" in names:  # a resident's handful of cases: its own index
        return "cases_phone_ref"
    return "cases_status_ref" if "status" in names else "sqlite_autoindex_cases_1"


@pytest.mark.parametrize("page", [1, 2])
@pytest.mark.parametrize("names", COMBINATIONS, ids=lambda c: "+".join(c) or "none")
async def test_every_filter_walks_its_index_in_ref_order(db: Database, names: tuple[str, ...],
                                                         page: int) -> None:
    sql, args = list_query(CaseStatus.OPEN if "status" in names else None,
                           "+447700900123" if "phone" in names else None, 50,
                           "HOU-2026-0042" if page > 1 else None)
    steps = [row["detail"] for row in await db.fetch_all(f"EXPLAIN QUERY PLAN {sql}", args)]
    assert not [s for s in steps if "TEMP B-TREE" in s], steps
    assert len(steps) == 1 and f"INDEX {expected_index(names)} " in steps[0] + " ", steps
