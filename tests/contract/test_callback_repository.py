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
    cb = await repo.add(a_callback(owner="Agent 1", language="cy", source_linkedid="1.1",
                                   site="north"))
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


async def test_the_post_call_survey_on_an_attempt_round_trips(repo: Any) -> None:
    from callcentre.domain.events import SurveyAnswered, SurveyOffered
    from callcentre.domain.survey import on_attempt

    cb = await repo.add(a_callback())
    cb = start_attempt(cb, "PJSIP/agent1", "cb1-1", T0 + timedelta(minutes=1))
    cb = finish_attempt(cb, AttemptOutcome.REACHED, T0 + timedelta(minutes=3), POLICY)
    at = T0 + timedelta(minutes=3, seconds=5)
    for event in (SurveyOffered("cb1-1", at, cb.id), SurveyAnswered("cb1-1", at, "resolved", "2"),
                  SurveyAnswered("cb1-1", at, "satisfaction", "5"),
                  SurveyAnswered("cb9-9", at, "satisfaction", "1")):  # another attempt's
        cb = on_attempt(cb, event)
    cb = await repo.update(cb)
    (got,) = (await repo.get(cb.id)).attempts
    assert (got.survey_offered, got.survey_resolved, got.survey_satisfaction) == (True, False, 5)


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


async def test_find_filters_and_pages_by_deadline(repo: Any) -> None:
    # ids 1..5 promised in that order, their deadlines not: 3 is due first, 1 last
    for i, hours in enumerate((5, 2, 1, 3, 4)):
        await repo.add(a_callback(phone=f"+44770090010{i}", owner="Agent 1" if i % 2 else None,
                                  case_ref=f"C-{i}", due_by=T0 + timedelta(hours=hours)))
    page = await repo.find(CallbackQuery(limit=2))
    assert [c.id for c in page.items] == [1, 5] and page.next_cursor is not None
    page = await repo.find(CallbackQuery(limit=2, cursor=page.next_cursor))
    assert [c.id for c in page.items] == [4, 2]
    page = await repo.find(CallbackQuery(limit=2, cursor=page.next_cursor))
    assert [c.id for c in page.items] == [3] and page.next_cursor is None
    soonest = await repo.find(CallbackQuery(limit=3, soonest_first=True))
    assert [c.id for c in soonest.items] == [3, 2, 4]
    rest = await repo.find(CallbackQuery(soonest_first=True, cursor=soonest.next_cursor))
    assert [c.id for c in rest.items] == [5, 1]
    assert [c.id for c in (await repo.find(CallbackQuery(owner="Agent 1"))).items] == [4, 2]
    assert [c.id for c in (await repo.find(CallbackQuery(case_ref="C-3"))).items] == [4]
    assert [c.id for c in (await repo.find(CallbackQuery(phone="+447700900102"))).items] == [3]
    window = CallbackQuery(due_from=T0 + timedelta(hours=2), due_until=T0 + timedelta(hours=4))
    assert [c.id for c in (await repo.find(window)).items] == [4, 2]
    assert (await repo.find(CallbackQuery(status=Status.CLOSED))).items == []


async def test_pages_never_skip_or_repeat_callbacks_due_at_the_same_time(repo: Any) -> None:
    for _ in range(7):
        await repo.add(a_callback(due_by=T0 + timedelta(hours=1)))
    for soonest in (False, True):
        seen: list[int] = []
        page = await repo.find(CallbackQuery(limit=3, soonest_first=soonest))
        seen += [c.id for c in page.items]
        while page.next_cursor is not None:
            page = await repo.find(CallbackQuery(limit=3, soonest_first=soonest,
                                                 cursor=page.next_cursor))
            seen += [c.id for c in page.items]
        assert seen == sorted(seen, reverse=not soonest) and sorted(seen) == list(range(1, 8))


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


async def test_each_site_reads_its_own_due_and_dialling_callbacks(repo: Any) -> None:
    """A site's dialler (one per PBX) rebuilds and resolves only its site's callbacks; the
    promise sizing and the agent page read every site's (site None)."""
    main = await repo.add(a_callback())
    north = await repo.add(a_callback(site="north", at=T0 - timedelta(minutes=1)))
    south = await repo.add(a_callback(site="south"))
    hour = T0 + timedelta(hours=1)
    assert [e.id for e in await repo.due_before(hour)] == [north.id, main.id, south.id]
    assert [e.id for e in await repo.due_before(hour, "")] == [main.id]
    assert [e.id for e in await repo.due_before(hour, "north")] == [north.id]
    assert await repo.due_before(hour, "east") == []
    for cb in (main, north):
        await repo.update(start_attempt(cb, None, f"x{cb.id}", T0))
    assert [c.id for c in await repo.with_status(Status.DIALLING, site="north")] == [north.id]
    assert [c.id for c in await repo.with_status(Status.DIALLING, site="")] == [main.id]
    assert len(await repo.with_status(Status.DIALLING, Status.PENDING)) == 3
    assert (await repo.get(south.id or 0)).site == "south"
    assert [c.id for c in await repo.open_elsewhere(("", "north"))] == [south.id]
    await repo.update(cancel(await repo.get(south.id or 0), "phoned in", "Sam", T0))
    assert await repo.open_elsewhere(("", "north")) == []  # closed: none to move


async def test_open_for_phone(repo: Any) -> None:
    a = await repo.add(a_callback())
    b = await repo.add(a_callback())
    await repo.add(a_callback(phone="+447700900999"))
    await repo.update(cancel(b, "duplicate", "Sam", T0))
    assert [c.id for c in await repo.open_for_phone("+447700900123")] == [a.id]
