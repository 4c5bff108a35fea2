"""Retention on SQLite and PostgreSQL: the purge and a resident's erasure take personal data
away from every table and leave every published figure exactly as it was."""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from callcentre.domain.callback_outcomes import correct_result
from callcentre.domain.callbacks import Attempt, AttemptOutcome, Result, Status, with_history
from callcentre.domain.calls import Call, CaseLink, EndSource, Outcome
from callcentre.domain.cases import Case, CaseStatus
from callcentre.domain.queue_log import parse_line
from callcentre.domain.retention import Kind, Period, RetentionPolicy
from callcentre.errors import Conflict
from callcentre.phones import normaliser
from callcentre.ports import LedgerPosition
from callcentre.services.retention import RetentionService
from callcentre.storage.db import Database
from callcentre.storage.engines import Repositories
from callcentre.storage.retention_repository import purge_batch
from callcentre.testing import FakeClock, utc
from tests import engines
from tests.contract.test_callback_repository import a_callback
from tests.engines import ENGINES

NOW = utc(2026, 11, 23, 3, 0)
MONTHS = [utc(2025, m, 1) for m in range(5, 13)] + [utc(2026, m, 1) for m in range(1, 13)]
OLD, NEW = utc(2025, 6, 10, 10), utc(2026, 9, 10, 10)  # before / within 13 months of NOW
RESIDENT = "+447700900123"
POLICY = RetentionPolicy({Kind.CALLS: Period(13, "months"), Kind.CALLBACKS: Period(13, "months"),
                          Kind.CASES: Period(24, "months"),
                          Kind.LEDGER_LINES: Period(13, "months")})


Engine = Repositories


@pytest.fixture(params=ENGINES)
async def e(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Engine]:
    """The engine's database and repositories."""
    async with AsyncExitStack() as stack:
        yield await engines.stores_for(request, stack, tmp_path)


def service(e: Engine, batch: int = 7) -> RetentionService:
    return RetentionService(e.retention, FakeClock(NOW), POLICY,
                            normaliser("GB"), batch=batch)


def a_call(i: int, rng: random.Random, around: datetime, caller: str) -> Call:
    arrived = around + timedelta(days=rng.uniform(-20, 20), seconds=rng.uniform(0, 3600))
    outcome = rng.choice([o for o in Outcome if o is not Outcome.HUNG_UP_BEFORE_QUEUE])
    queued = arrived + timedelta(seconds=1)
    end = queued + timedelta(seconds=rng.choice([3.0, 20.0, rng.uniform(0, 200)]))
    return Call(linkedid=f"L{i}", channel="PJSIP/trunk-1", arrived_at=arrived,
                queue=rng.choice("ab"), caller=caller, caller_raw="0" + caller[3:],
                caller_name=f"Resident {i}", outcome=outcome, end_source=EndSource.HANGUP,
                out_of_hours=rng.random() < 0.2, repeat_of=1 if i and rng.random() < 0.3 else None,
                queued_at=queued, ended_at=end + timedelta(seconds=5),
                answered_at=end if outcome is Outcome.ANSWERED else None,
                left_queue_at=None if outcome is Outcome.ANSWERED else end,
                case_ref=f"HOU-{i % 3}", keyed_case_ref=f"HOU-{i % 3}", case_link=CaseLink.KEYED)


async def seed(e: Engine, seed_: int = 1) -> None:
    rng = random.Random(seed_)
    for i in range(3):
        await e.cases.add(Case(f"HOU-{i}", f"Mrs {i}'s bins", CaseStatus.CLOSED,
                                                RESIDENT, utc(2024, 1, 5), utc(2024, 2, 1)))
    await e.cases.add(Case("HOU-9", "Open case", CaseStatus.OPEN, RESIDENT,
                                            utc(2024, 1, 5), utc(2024, 2, 1)))
    calls = [a_call(i, rng, OLD if i % 2 else NEW, f"+44770090{i:04d}") for i in range(60)]
    saved = await e.calls.save(calls)
    await db_exec(e, "UPDATE calls SET ledger = CASE id % 3 WHEN 0 THEN 'agrees' WHEN 1 THEN"
                      " 'outcome: abandoned -> answered' ELSE NULL END")
    lines = [parse_line(f"{int(c.arrived_at.timestamp())}|{c.linkedid}|{c.queue}|NONE|ENTERQUEUE"
                        f"||{c.caller_raw}|1") for c in saved]
    await e.ledger.append(lines, LedgerPosition("q", 1, 1, 1), NOW)
    for when in (OLD, NEW):
        for result in (Result.KEPT, Result.MISSED, Result.LATE, Result.CANCELLED):
            await e.callbacks.add(a_closed(when, result))


def a_closed(when: datetime, result: Result) -> Any:
    cb = a_callback(RESIDENT, when, case_ref="HOU-1")
    attempt = Attempt(1, when, "callback-x-1-1", "PJSIP/agent1", when, AttemptOutcome.REACHED,
                      note="spoke to her daughter")
    cb = replace(cb, status=Status.CLOSED, result=result, next_attempt_at=None,
                 closed_at=when + timedelta(hours=1), attempts=(attempt,))
    cb = with_history(cb, when, "Sam", "outcome", new=result.value, reason="lives at no. 4")
    if result is Result.KEPT:
        cb = correct_result(cb, Result.MISSED, "it was her voicemail", "Sam", when)
    return cb


async def db_exec(e: Engine, sql: str, args: tuple[Any, ...] = ()) -> None:
    async with e.db.write() as conn:
        await conn.execute(sql, args)


async def figures(e: Engine) -> list[Any]:
    """Every published figure of every month: calls (all queues and each), callbacks."""
    standards, callbacks = e.standards, e.callback_figures
    out: list[Any] = [await callbacks.counts(NOW, timedelta(minutes=30))]
    await standards.prepare(ZoneInfo("UTC"))  # as the service does at start
    for start, end in itertools.pairwise(MONTHS):
        for queue in (None, "a", "b"):
            out.append(await standards.figures(start.date(), end.date(), queue))
        out.append(await callbacks.period(start, end))
    return out


async def test_the_monthly_figures_are_the_same_before_and_after_the_purge(e: Engine) -> None:
    await seed(e)
    before = await figures(e)
    assert sum(f.outcomes.get("answered", 0) for f in before[1::4]) > 0  # a real comparison
    changed = await service(e).purge()
    assert changed.counts[Kind.CALLS] == 30 and changed.counts[Kind.CALLBACKS] == 4
    assert await figures(e) == before
    # and the calls as they are now still give those figures when counted afresh
    assert (await e.standards.rebuild()).differed == 0


async def test_old_personal_data_is_gone_and_new_data_untouched(e: Engine) -> None:
    await seed(e)
    await service(e).purge()
    cut = utc(2025, 10, 23, 3).timestamp()
    old_calls = await e.db.fetch_all("SELECT * FROM calls WHERE arrived_at < ?", (cut,))
    assert old_calls and all(r["caller"] is None and r["caller_raw"] is None
                             and r["caller_name"] is None and r["case_ref"] is None
                             and r["keyed_case_ref"] is None for r in old_calls)
    new_calls = await e.db.fetch_all("SELECT * FROM calls WHERE arrived_at >= ?", (cut,))
    assert new_calls and all(r["caller"] and r["caller_name"] and r["case_ref"]
                             for r in new_calls)
    lines = await e.db.fetch_all("SELECT at, data FROM ledger_lines")
    assert all((r["data"].split("|")[1] == "") == (r["at"] < cut) for r in lines)
    callbacks = await e.db.fetch_all("SELECT * FROM callbacks ORDER BY id")
    for row in callbacks:
        old = row["closed_at"] < cut
        assert (row["phone"] == "") == old and (row["reason"] == "") == old
        assert ("daughter" in row["attempts"]) != old and ("no. 4" in row["history"]) != old
    cases = {r["ref"]: r for r in await e.db.fetch_all("SELECT * FROM cases")}
    assert cases["HOU-1"]["phone"] is None and cases["HOU-1"]["subject"] == ""
    assert cases["HOU-9"]["phone"] == RESIDENT  # open: kept


async def test_the_purge_is_idempotent_and_recorded(e: Engine) -> None:
    await seed(e)
    retention = service(e, batch=2)
    first = await retention.purge()
    assert first.total > 0
    assert (await retention.purge()).total == 0
    runs = await e.db.fetch_all("SELECT trigger, changed FROM retention_runs ORDER BY id")
    assert [r["trigger"] for r in runs] == ["purge", "purge"]
    assert json.loads(runs[0]["changed"]) == {k.value: n for k, n in first.counts.items()}


async def test_an_anonymised_callback_still_loads(e: Engine) -> None:
    await seed(e)
    await service(e).purge()
    cb = await e.callbacks.get(1)
    assert cb.phone == "" and cb.history[-1].action == "corrected"


async def test_export_finds_a_number_across_calls_cases_and_callbacks(e: Engine) -> None:
    await seed(e)
    await e.calls.save([replace(
        a_call(99, random.Random(9), NEW, RESIDENT), case_ref="HOU-2")])
    found = (await service(e).export("07700 900123"))["records"]
    assert [c["linkedid"] for c in found["calls"]] == ["L99"]
    assert {c["ref"] for c in found["cases"]} == {"HOU-0", "HOU-1", "HOU-2", "HOU-9"}
    assert len(found["callbacks"]) == 8 and found["callbacks"][0]["history"]
    assert [line["callid"] for line in found["ledger_lines"]] == []  # L99 came by AMI only
    json.dumps(found)  # plain JSON values


async def test_erase_leaves_no_trace_of_the_number_and_keeps_the_figures(e: Engine) -> None:
    await seed(e)
    await e.calls.save([a_call(99, random.Random(9), NEW, RESIDENT)])
    line = parse_line(f"{int(NEW.timestamp())}|L99|a|NONE|ENTERQUEUE||07700900123|1")
    await e.ledger.append([line], LedgerPosition("q", 1, 1, 2), NOW)
    before = await figures(e)
    changed = await service(e).erase("+44 7700 900123")
    assert changed.counts == {Kind.CALLS: 1, Kind.CALLBACKS: 8, Kind.CASES: 4,
                              Kind.LEDGER_LINES: 1}
    assert await text_columns_holding(e, "7700900123") == []
    assert await figures(e) == before


async def test_erase_refuses_while_a_callback_is_owed(e: Engine) -> None:
    await e.callbacks.add(a_callback(RESIDENT, NEW))
    with pytest.raises(Conflict, match="cancel"):
        await service(e).erase(RESIDENT)


COLUMNS = {
    "sqlite": "SELECT m.name, c.name FROM sqlite_master m, pragma_table_info(m.name) c"
              " WHERE m.type = 'table'",
    "postgres": "SELECT table_name, column_name FROM information_schema.columns"
                " WHERE table_schema = 'public'",
}


async def text_columns_holding(e: Engine, digits: str) -> list[str]:
    found = []
    for table, column in await e.db.fetch_all(COLUMNS[e.engine]):
        hits = await e.db.fetch_one(
            f'SELECT COUNT(*) FROM {table} WHERE CAST("{column}" AS TEXT) LIKE ?',
            (f"%{digits}%",))
        if hits and hits[0]:
            found.append(f"{table}.{column}")
    return found


@pytest.mark.parametrize("kind", [Kind.CALLS, Kind.CALLBACKS, Kind.CASES])
async def test_a_purge_batch_walks_the_personal_index_and_never_sorts(db: Database,
                                                                     kind: Kind) -> None:
    # SQLite's plan: the status index would make it sort every closed record for each batch
    plan = [row["detail"] for row in await db.fetch_all(
        f"EXPLAIN QUERY PLAN {purge_batch(kind)}", (0.0, 10))]
    assert not [step for step in plan if "TEMP B-TREE" in step], plan
    assert any(f"USING INDEX {kind.value}_personal " in step + " " for step in plan), plan
