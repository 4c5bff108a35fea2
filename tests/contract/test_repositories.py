"""One suite, three implementations: the in-memory fakes, the SQLite adapters and the
PostgreSQL ones (tests/postgres.py's cluster; skipped when PostgreSQL is not installed)."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from callcentre.domain.calls import Call, CaseLink, EndSource, Outcome
from callcentre.domain.cases import CaseStatus, new_case
from callcentre.domain.paging import Keyset
from callcentre.domain.people import AuditEntry, Person, Token
from callcentre.errors import (
    CaseExists,
    Conflict,
    NoSuchCall,
    NoSuchCase,
    NotFound,
    StorageError,
)
from callcentre.ports import CallQuery, RepeatQuery
from callcentre.storage.db import Database, migrations
from callcentre.storage.postgres.db import PgDatabase
from callcentre.storage.token_repository import SqliteTokenRepository
from callcentre.testing import (
    InMemoryAuditRepository,
    InMemoryCallRepository,
    InMemoryCaseRepository,
    InMemoryTokenRepository,
    utc,
)
from tests import engines
from tests.engines import ENGINES

T0 = utc(2026, 11, 23, 9, 0, 0, 250_000)


@dataclass
class Repos:
    calls: Any
    cases: Any
    tokens: Any
    audit: Any
    db: Database | PgDatabase | None = None


@pytest.fixture(params=["memory", *ENGINES])
async def repos(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Repos]:
    if request.param == "memory":
        yield Repos(InMemoryCallRepository(), InMemoryCaseRepository(), InMemoryTokenRepository(),
                    InMemoryAuditRepository())
        return
    async with AsyncExitStack() as stack:
        s = await engines.stores_for(request, stack, tmp_path)
        yield Repos(s.calls, s.cases, s.tokens, s.audit, s.db)


def a_call(linkedid: str = "1795379766.0", at: Any = T0, **kw: Any) -> Call:
    return Call(linkedid=linkedid, channel="PJSIP/resident-1", arrived_at=at,
                caller=kw.pop("caller", "+447700900123"), **kw)


def finished(call: Call, outcome: Outcome = Outcome.ANSWERED) -> Call:
    return replace(call, queue="council", queued_at=call.arrived_at + timedelta(seconds=1),
                   answered_at=call.arrived_at + timedelta(seconds=5.5),
                   ended_at=call.arrived_at + timedelta(seconds=60), outcome=outcome,
                   end_source=EndSource.HANGUP)


async def test_save_assigns_ids_and_round_trips_every_field(repos: Repos) -> None:
    call = finished(a_call(caller_name="Ann", dialled="1000", join_position=2,
                           keyed_case_ref="R-1", out_of_hours=True, hangup_cause=16))
    (stored,) = await repos.calls.save([call])
    assert stored.id is not None
    assert replace(stored, id=None) == call
    assert await repos.calls.get(stored.id) == stored
    assert stored.wait_seconds == pytest.approx(4.5)


async def test_save_updates_in_progress_but_never_a_finished_call(repos: Repos) -> None:
    (first,) = await repos.calls.save([a_call()])
    (second,) = await repos.calls.save([replace(a_call(), queue="council")])
    assert second.id == first.id and second.queue == "council"
    (done,) = await repos.calls.save([finished(a_call())])
    (late,) = await repos.calls.save([replace(a_call(), queue="other")])
    assert late == done and late.outcome is Outcome.ANSWERED


async def test_unknown_call_raises(repos: Repos) -> None:
    with pytest.raises(NoSuchCall):
        await repos.calls.get(999)
    with pytest.raises(NoSuchCall):
        await repos.calls.link_case(999, "R-1", CaseLink.AGENT)


async def test_find_filters_and_pages_newest_first(repos: Repos) -> None:
    calls = [finished(a_call(f"1.{i}", T0 + timedelta(minutes=i)),
                      Outcome.ANSWERED if i % 2 else Outcome.ABANDONED) for i in range(7)]
    await repos.calls.save(calls)
    page = await repos.calls.find(CallQuery(limit=3))
    assert [c.linkedid for c in page.items] == ["1.6", "1.5", "1.4"]
    rest = await repos.calls.find(CallQuery(limit=10, cursor=page.next_cursor))
    assert [c.linkedid for c in rest.items] == ["1.3", "1.2", "1.1", "1.0"] and rest.next_cursor is None
    answered = await repos.calls.find(CallQuery(outcome=Outcome.ANSWERED,
                                                since=T0 + timedelta(minutes=2),
                                                until=T0 + timedelta(minutes=5)))
    assert [c.linkedid for c in answered.items] == ["1.3"]


async def test_find_orders_by_arrival_and_pages_through_equal_times(repos: Repos) -> None:
    # saved out of arrival order, and three calls arriving in the same microsecond
    at = [5, 1, 3, 3, 3, 0, 4]
    await repos.calls.save([finished(a_call(f"2.{i}", T0 + timedelta(seconds=s)))
                            for i, s in enumerate(at)])
    whole = (await repos.calls.find(CallQuery(limit=100))).items
    assert [c.linkedid for c in whole] == ["2.0", "2.6", "2.4", "2.3", "2.2", "2.1", "2.5"]
    seen, cursor = [], None
    while True:
        page = await repos.calls.find(CallQuery(limit=1, cursor=cursor))
        seen += page.items
        if page.next_cursor is None:
            break
        # the same token from the fake and from SQLite: the last call's arrival and id
        assert page.next_cursor == Keyset.of(page.items[-1].arrived_at, page.items[-1].id)
        cursor = Keyset.from_token(page.next_cursor.token())  # as the API passes it on
    assert seen == whole


async def test_every_filter_pages_like_one_long_page(repos: Repos) -> None:
    queues, outcomes = ["council", "housing"], [Outcome.ANSWERED, Outcome.ABANDONED]
    await repos.calls.save([replace(
        finished(a_call(f"3.{i}", T0 + timedelta(minutes=i // 2)), outcomes[i % 2]),
        queue=queues[i // 3 % 2], case_ref="R-1" if i % 5 == 0 else None) for i in range(24)])
    for query in (CallQuery(queue="housing"), CallQuery(outcome=Outcome.ABANDONED),
                  CallQuery(case_ref="R-1"), CallQuery(queue="council", outcome=Outcome.ANSWERED),
                  CallQuery(since=T0 + timedelta(minutes=3), until=T0 + timedelta(minutes=9),
                            queue="housing", case_ref="R-1")):
        whole = (await repos.calls.find(replace(query, limit=100))).items
        assert whole, query
        paged, cursor = [], None
        while True:
            page = await repos.calls.find(replace(query, limit=2, cursor=cursor))
            paged += page.items
            if (cursor := page.next_cursor) is None:
                break
        assert paged == whole, query


async def test_unfinished_and_previous_from(repos: Repos) -> None:
    await repos.calls.save([finished(a_call("1.0", T0)), a_call("1.1", T0 + timedelta(hours=1)),
                            a_call("1.2", T0 + timedelta(hours=2), caller="+441632960001")])
    assert [c.linkedid for c in await repos.calls.unfinished()] == ["1.1", "1.2"]
    prev = await repos.calls.previous_from("+447700900123", T0 - timedelta(days=7),
                                           T0 + timedelta(hours=3), "1.1")
    assert (await repos.calls.get(prev)).linkedid == "1.0"
    assert await repos.calls.previous_from("+447700900123", T0 + timedelta(minutes=1),
                                           T0 + timedelta(hours=3), "1.1") is None


async def test_previous_from_each_answers_as_previous_from_in_order(repos: Repos) -> None:
    other = "+441632960001"
    await repos.calls.save([finished(a_call("1.0", T0)), a_call("1.1", T0 + timedelta(hours=1)),
                            a_call("1.2", T0 + timedelta(hours=2), caller=other)])
    week = timedelta(days=7)
    queries = [
        RepeatQuery("+447700900123", T0 - week, T0 + timedelta(hours=3), "1.9"),  # latest: 1.1
        RepeatQuery("+447700900123", T0 - week, T0 + timedelta(hours=3), "1.1"),  # 1.1 excluded
        RepeatQuery("+447700900123", T0 - week, T0, "1.9"),  # before is exclusive
        RepeatQuery("+447700900123", T0, T0 + timedelta(minutes=1), "1.9"),  # since inclusive
        RepeatQuery(other, T0 - week, T0 + timedelta(hours=3), "1.9"),
        RepeatQuery("+449999999999", T0 - week, T0 + week, "1.9"),
    ]
    singly = [await repos.calls.previous_from(q.caller, q.since, q.before, q.exclude_linkedid)
              for q in queries]
    assert [None if i is None else (await repos.calls.get(i)).linkedid for i in singly] == [
        "1.1", "1.0", None, "1.0", "1.2", None]
    assert await repos.calls.previous_from_each(queries) == singly
    assert await repos.calls.previous_from_each(queries * 70) == singly * 70  # several reads
    assert await repos.calls.previous_from_each([]) == []


async def test_agent_link_survives_later_saves(repos: Repos) -> None:
    (call,) = await repos.calls.save([a_call(case_ref="AUTO-1", case_link=CaseLink.NUMBER)])
    linked = await repos.calls.link_case(call.id, "R-9", CaseLink.AGENT)
    assert (linked.case_ref, linked.case_link) == ("R-9", CaseLink.AGENT)
    (again,) = await repos.calls.save([replace(call, case_ref="AUTO-2", case_link=CaseLink.NUMBER)])
    assert (again.case_ref, again.case_link) == ("R-9", CaseLink.AGENT)


async def test_survey_answers_round_trip_skips_included(repos: Repos) -> None:
    answered = finished(a_call(survey_offered=True, survey_resolved=False, survey_satisfaction=4))
    skipped = finished(a_call("1795379766.1", survey_offered=True))
    stored = await repos.calls.save([answered, skipped])
    assert [replace(c, id=None) for c in stored] == [answered, skipped]
    assert await repos.calls.get(stored[0].id) == stored[0]
    assert (stored[1].survey_resolved, stored[1].survey_satisfaction) == (None, None)


async def test_a_wrapup_code_is_the_agents_and_survives_later_saves(repos: Repos) -> None:
    (call,) = await repos.calls.save([a_call()])
    coded = await repos.calls.set_wrapup(call.id, "resolved")
    assert coded.wrapup_code == "resolved"
    (again,) = await repos.calls.save([finished(a_call())])
    assert again.wrapup_code == "resolved" and again.outcome is Outcome.ANSWERED
    assert (await repos.calls.set_wrapup(call.id, "wrong-number")).wrapup_code == "wrong-number"
    assert (await repos.calls.set_wrapup(call.id, None)).wrapup_code is None
    with pytest.raises(NoSuchCall):
        await repos.calls.set_wrapup(999, "resolved")


async def test_cases(repos: Repos) -> None:
    older = new_case("R-1", "Bins", "+447700900123", T0)
    newer = new_case("R-2", "Parking", "+447700900123", T0 + timedelta(days=1))
    await repos.cases.add(older)
    await repos.cases.add(newer)
    with pytest.raises(CaseExists):
        await repos.cases.add(older)
    with pytest.raises(NoSuchCase):
        await repos.cases.get("nope")
    assert await repos.cases.get("R-1") == older
    assert (await repos.cases.latest_open_for("+447700900123")) == newer
    closed = await repos.cases.set_status("R-2", CaseStatus.CLOSED, T0 + timedelta(days=2))
    assert closed.status is CaseStatus.CLOSED
    assert (await repos.cases.latest_open_for("+447700900123")) == older
    items, cursor = await repos.cases.find(None, None, 1, None)
    assert [c.ref for c in items] == ["R-1"] and cursor == "R-1"
    items, cursor = await repos.cases.find(CaseStatus.CLOSED, None, 10, None)
    assert [c.ref for c in items] == ["R-2"] and cursor is None


async def test_cases_read_together(repos: Repos) -> None:
    number, other = "+447700900123", "+441632960001"
    cases = [new_case("R-1", "Bins", number, T0),
             new_case("R-2", "Parking", number, T0 + timedelta(days=1)),
             new_case("R-3", "Tax", other, T0), new_case("R-4", "Noise", None, T0)]
    for case in cases:
        await repos.cases.add(case)
    await repos.cases.set_status("R-3", CaseStatus.CLOSED, T0 + timedelta(days=2))
    assert await repos.cases.latest_open_for_each({number, other, "+449999999999"}) == {
        number: cases[1]}
    assert await repos.cases.get_each({"R-1", "R-4", "nope"}) == {"R-1": cases[0],
                                                                  "R-4": cases[3]}
    assert await repos.cases.latest_open_for_each(set()) == {}
    assert await repos.cases.get_each(set()) == {}
    many = {f"+4477009{i:05d}" for i in range(1200)} | {number}  # several reads
    assert await repos.cases.latest_open_for_each(many) == {number: cases[1]}
    assert (await repos.cases.get_each({f"X-{i}" for i in range(1200)} | {"R-2"})) == {
        "R-2": cases[1]}


async def test_tokens_belong_to_people_expire_and_are_revoked(repos: Repos) -> None:
    later = T0 + timedelta(days=90)
    made = await repos.tokens.add("abc", Token("Ann", "agent", T0, later, interface="PJSIP/a1"))
    assert made.id is not None
    found = await repos.tokens.find("abc")
    assert found == Token("Ann", "agent", T0, later, None, "PJSIP/a1", made.id)
    assert found.valid_at(T0) and not found.valid_at(later)
    assert await repos.tokens.find("nope") is None
    second = await repos.tokens.add("def", Token("Ann", "agent", T0, later, interface="PJSIP/a1"))
    with pytest.raises(Conflict):  # one person, one role: not a manager by another token
        await repos.tokens.add("ghi", Token("Ann", "manager", T0, later, interface="PJSIP/a1"))
    with pytest.raises(Conflict):  # an interface is one person's
        await repos.tokens.add("jkl", Token("Bob", "agent", T0, later, interface="PJSIP/a1"))
    revoked = await repos.tokens.revoke(made.id, T0 + timedelta(days=1))
    assert revoked.revoked_at == T0 + timedelta(days=1) and not revoked.valid_at(T0)
    again = await repos.tokens.revoke(made.id, T0 + timedelta(days=2))
    assert again.revoked_at == T0 + timedelta(days=1)  # the first time is kept
    assert [t.id for t in await repos.tokens.all()] == [second.id, made.id]
    with pytest.raises(NotFound):
        await repos.tokens.revoke(999, T0)
    await repos.tokens.add("old", Token("Cy", "agent", T0))  # no expiry: made long ago
    assert await repos.tokens.bound_expiry(later) == 1
    assert (await repos.tokens.find("old")).expires_at == later  # type: ignore[union-attr]


async def test_people_are_added_without_a_token_and_sign_in_tokens_say_so(repos: Repos) -> None:
    dee = Person("dee@council.example", "manager")
    assert await repos.tokens.add_person(dee, T0) == dee
    assert await repos.tokens.person("dee@council.example") == dee
    assert await repos.tokens.person("nobody") is None
    assert await repos.tokens.person("Dee@Council.Example") == dee  # as e-mail is read
    with pytest.raises(Conflict):  # one name, one person
        await repos.tokens.add_person(Person("dee@council.example", "agent"), T0)
    await repos.tokens.add_person(Person("Eve", "agent", "PJSIP/e1"), T0)
    with pytest.raises(Conflict):  # an interface is one person's
        await repos.tokens.add_person(Person("Fay", "agent", "PJSIP/e1"), T0)
    assert [p.name for p in await repos.tokens.people()] == ["Eve", "dee@council.example"]
    made = await repos.tokens.add("sig", Token(dee.name, dee.role, T0, T0 + timedelta(hours=8),
                                               via="oidc"))
    assert await repos.tokens.find("sig") == made and made.via == "oidc"


async def test_each_database_has_its_own_stable_installation_id(tmp_path: Path) -> None:
    ids = []
    for name in ("a", "b", "a"):
        db = Database(tmp_path / f"{name}.sqlite3")
        await db.open()
        await db.migrate()
        ids.append(await db.installation_id())
        await db.close()
    assert ids[0] == ids[2] != ids[1]
    assert len(ids[0]) == 8


async def test_tokens_made_before_people_keep_working_after_the_upgrade(tmp_path: Path) -> None:
    """A database at schema 7 with two tokens of one name: after migration 009 they belong
    to one person (the higher role); the service then bounds their expiry (the migration
    never reads the clock)."""
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as con:
        for version, _, sql in migrations():
            if version <= 7:
                con.executescript(sql)
                con.execute(f"PRAGMA user_version={version}")
        con.executemany("INSERT INTO tokens (hash, name, role, created_at) VALUES (?, ?, ?, ?)",
                        [("h1", "Front desk", "agent", 1.0), ("h2", "Front desk", "manager", 2.0)])
    db = Database(path)
    await db.open()
    try:
        await db.migrate()
        tokens = SqliteTokenRepository(db)
        first, second = await tokens.find("h1"), await tokens.find("h2")
        assert first is not None and second is not None and first.expires_at is None
        assert (first.name, first.role) == (second.name, second.role) == ("Front desk", "manager")
        assert await tokens.bound_expiry(T0 + timedelta(days=90)) == 2
        assert await tokens.bound_expiry(T0 + timedelta(days=1)) == 0  # once
        bounded = await tokens.find("h1")
    finally:
        await db.close()
    assert bounded is not None and bounded.expires_at == T0 + timedelta(days=90)


async def test_the_audit_trail_keeps_entries_in_order_and_cannot_be_changed(
        repos: Repos) -> None:
    def entry(minutes: int, action: str = "read") -> AuditEntry:
        return AuditEntry(T0 + timedelta(minutes=minutes), "Ann", "agent", action, "GET",
                          "/api/callbacks/{id}", str(minutes), 200)

    for m in (5, 1, 3):
        await repos.audit.append(entry(m))
    got = await repos.audit.between(T0 + timedelta(minutes=1), T0 + timedelta(minutes=5))
    assert got == [entry(1), entry(3)]  # oldest first; the end not included
    if repos.db is not None:  # append-only in the database itself, whoever writes to it
        for sql in ("UPDATE audit SET person = 'Bob'", "DELETE FROM audit"):
            with pytest.raises(StorageError, match="append-only"):
                async with repos.db.write() as conn:
                    await conn.execute(sql)
        assert len(await repos.audit.between(T0, T0 + timedelta(hours=1))) == 3
