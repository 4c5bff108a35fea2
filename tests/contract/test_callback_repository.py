"""One suite, three implementations of CallbackRepository: in memory, SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from callcentre.domain.callback_policy import Source
from callcentre.domain.callbacks import (
    AttemptOutcome,
    Callback,
    Result,
    Status,
    Told,
    cancel,
    finish_attempt,
    new_callback,
    reschedule,
    resident_answered,
    start_attempt,
)
from callcentre.errors import DuplicateCallback, NoSuchCallback, StaleCallback
from callcentre.ports import CallbackQuery
from callcentre.testing import InMemoryCallbackRepository, default_policy, utc
from tests import engines
from tests.engines import ENGINES

T0 = utc(2026, 11, 23, 10, 0, 0, 250_000)  # a Monday, open
POLICY = default_policy()


@pytest.fixture(params=["memory", *ENGINES])
async def repo(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    if request.param == "memory":
        yield InMemoryCallbackRepository()
        return
    async with AsyncExitStack() as stack:
        yield (await engines.stores_for(request, stack, tmp_path)).callbacks


def a_callback(phone: str = "+447700900123", at: Any = T0, **kw: Any) -> Callback:
    base = Callback(case_ref=kw.pop("case_ref", "HOU-1"), phone=phone, reason="Bin not collected",
                    source=kw.pop("source", Source.AGENT), promised_by="Sam",
                    not_before=at, due_by=kw.pop("due_by", at + timedelta(hours=4)),
                    created_at=at, **kw)
    return new_callback(base, POLICY)


async def test_add_then_get_round_trips_everything(repo: Any) -> None:
    cb = await repo.add(a_callback(owner="Agent 1", language="cy", source_linkedid="1.1"))
    assert cb.id is not None and cb.version == 1
    got = await repo.get(cb.id)
    assert got == cb
    assert got.history[0].action == "created" and got.next_attempt_at == T0


async def test_attempts_and_history_round_trip(repo: Any) -> None:
    cb = await repo.add(a_callback())
    cb = start_attempt(cb, "PJSIP/agent1", "cb1-1", T0 + timedelta(minutes=1))
    cb = resident_answered(cb, T0 + timedelta(minutes=1, seconds=5))
    cb = finish_attempt(cb, AttemptOutcome.REACHED, T0 + timedelta(minutes=3), POLICY)
    cb = await repo.update(cb)
    got = await repo.get(cb.id)
    assert got == cb and got.version == 2
    assert got.result is Result.KEPT and got.attempts[0].answered_at == T0 + timedelta(minutes=1, seconds=5)


async def test_update_refuses_a_stale_version(repo: Any) -> None:
    cb = await repo.add(a_callback())
    await repo.update(reschedule(cb, T0 + timedelta(hours=5), "waiting for the surveyor",
                                 Told.SMS, "Sam", T0, POLICY))
    with pytest.raises(StaleCallback):
        await repo.update(cancel(cb, "resident asked", "Sam", T0))
    assert (await repo.get(cb.id)).extensions == 1


async def test_unknown_ids(repo: Any) -> None:
    with pytest.raises(NoSuchCallback):
        await repo.get(404)
    cb = replace(a_callback(), id=404, version=1)
    with pytest.raises(NoSuchCallback):
        await repo.update(cb)


async def test_one_callback_per_source_call(repo: Any) -> None:
    await repo.add(a_callback(source=Source.ABANDONED, source_linkedid="99.1"))
    with pytest.raises(DuplicateCallback):
        await repo.add(a_callback(source=Source.ABANDONED, source_linkedid="99.1"))
    await repo.add(a_callback())  # no linkedid: never a duplicate
    await repo.add(a_callback())


async def test_find_filters_and_pages(repo: Any) -> None:
    for i in range(5):
        await repo.add(a_callback(phone=f"+44770090010{i}", owner="Agent 1" if i % 2 else None,
                                  case_ref=f"C-{i}", due_by=T0 + timedelta(hours=1 + i)))
    items, cursor = await repo.find(CallbackQuery(limit=2))
    assert [c.id for c in items] == [5, 4] and cursor == 4
    items, cursor = await repo.find(CallbackQuery(limit=2, cursor=cursor))
    assert [c.id for c in items] == [3, 2] and cursor == 2
    assert [c.id for c in (await repo.find(CallbackQuery(owner="Agent 1")))[0]] == [4, 2]
    assert [c.id for c in (await repo.find(CallbackQuery(case_ref="C-3")))[0]] == [4]
    window = CallbackQuery(due_from=T0 + timedelta(hours=2), due_until=T0 + timedelta(hours=4))
    assert [c.id for c in (await repo.find(window))[0]] == [3, 2]
    assert (await repo.find(CallbackQuery(status=Status.CLOSED)))[0] == []


async def test_due_before_lists_pending_earliest_first(repo: Any) -> None:
    late = await repo.add(a_callback(at=T0 + timedelta(minutes=30)))
    early = await repo.add(a_callback())
    dialling = await repo.add(a_callback())
    await repo.update(start_attempt(dialling, None, "x", T0))
    due = await repo.due_before(T0 + timedelta(hours=1))
    assert [e.id for e in due] == [early.id, late.id]
    assert due[0].next_attempt_at == T0 and due[0].due_by == early.due_by
    assert await repo.due_before(T0) == []
    assert [c.id for c in await repo.with_status(Status.DIALLING)] == [dialling.id]


async def test_open_for_phone(repo: Any) -> None:
    a = await repo.add(a_callback())
    b = await repo.add(a_callback())
    await repo.add(a_callback(phone="+447700900999"))
    await repo.update(cancel(b, "duplicate", "Sam", T0))
    assert [c.id for c in await repo.open_for_phone("+447700900123")] == [a.id]
