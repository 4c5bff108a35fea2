"""Fakes shipped with the code, one for every port: a settable clock, in-memory
repositories, a PBX that records what it was asked, and the packaged policy.

The repositories honour the same contracts as the SQLite adapters (tests/contract runs
one suite against both), so unit tests of services can use them without a database.
``FakePbx`` records Originates and lets a test say what the PBX reports;
``default_policy()`` is the packaged policy, with changes for a test.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from callcentre.domain.callback_events import MemberChanged
from callcentre.domain.callback_policy import CallbackPolicy
from callcentre.domain.callbacks import Callback, Status
from callcentre.domain.calls import Call, CaseLink
from callcentre.domain.cases import Case, CaseStatus
from callcentre.domain.paging import Keyset
from callcentre.domain.people import AuditEntry, Person, Session, Token
from callcentre.domain.queue_log import QueueLogLine
from callcentre.errors import (
    CaseExists,
    Conflict,
    DuplicateCallback,
    NoSuchCall,
    NoSuchCallback,
    NoSuchCase,
    NotFound,
    PbxRefused,
    PbxUnavailable,
    StaleCallback,
)
from callcentre.ports import (
    CallbackQuery,
    CallQuery,
    DueEntry,
    LedgerCounts,
    LedgerPosition,
    OriginateRequest,
    Page,
    RepeatQuery,
)
from callcentre.scheduling.policy import load_callback_policy, read_policy


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
        if self._now.tzinfo is None:
            raise ValueError("FakeClock needs an aware datetime")

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float = 0, **delta: float) -> datetime:
        self._now += timedelta(seconds=seconds, **delta)
        return self._now

    def set(self, when: datetime) -> None:
        self._now = when


class InMemoryCallRepository:
    def __init__(self) -> None:
        self._by_id: dict[int, Call] = {}
        self._ids: dict[str, int] = {}

    async def save(self, calls: Sequence[Call]) -> list[Call]:
        return [self._save_one(c) for c in calls]

    def _save_one(self, call: Call) -> Call:
        call_id = self._ids.get(call.linkedid)
        if call_id is None:
            call_id = len(self._by_id) + 1
            self._ids[call.linkedid] = call_id
        else:
            old = self._by_id[call_id]
            if old.finished:
                return old
            if old.case_link is CaseLink.AGENT:
                call = replace(call, case_ref=old.case_ref, case_link=old.case_link)
            call = replace(call, repeat_of=old.repeat_of or call.repeat_of)
        stored = replace(call, id=call_id)
        self._by_id[call_id] = stored
        return stored

    async def get(self, call_id: int) -> Call:
        try:
            return self._by_id[call_id]
        except KeyError:
            raise NoSuchCall(call_id) from None

    async def find(self, query: CallQuery) -> Page[Call]:  # as SQLite: by (arrived_at, id)
        found = sorted((c for c in self._by_id.values() if _matches(c, query)),
                       key=lambda c: (c.arrived_at, c.id or 0), reverse=True)
        page, more = found[: query.limit], len(found) > query.limit
        return Page(page, Keyset.of(page[-1].arrived_at, page[-1].id) if more and page else None)

    async def unfinished(self) -> list[Call]:
        return [c for _, c in sorted(self._by_id.items()) if not c.finished]

    async def previous_from(self, caller: str, since: datetime, before: datetime,
                            exclude_linkedid: str) -> int | None:
        found = [c for c in self._by_id.values()
                 if c.caller == caller and since <= c.arrived_at < before
                 and c.linkedid != exclude_linkedid]
        return max(found, key=lambda c: c.arrived_at).id if found else None

    async def previous_from_each(self, queries: Sequence[RepeatQuery]) -> list[int | None]:
        return [await self.previous_from(q.caller, q.since, q.before, q.exclude_linkedid)
                for q in queries]

    async def link_case(self, call_id: int, case_ref: str | None, link: CaseLink | None) -> Call:
        call = await self.get(call_id)
        self._by_id[call_id] = replace(call, case_ref=case_ref, case_link=link)
        return self._by_id[call_id]


class InMemoryLedgerRepository:
    """The ledger beside an ``InMemoryCallRepository`` (settling writes into its calls)."""

    def __init__(self, calls: InMemoryCallRepository) -> None:
        self.calls = calls
        self.lines: list[QueueLogLine] = []
        self.positions: dict[str, LedgerPosition] = {}
        self._last: dict[str, datetime] = {}
        self._settled: set[str] = set()

    async def position(self, path: str) -> LedgerPosition | None:
        return self.positions.get(path)

    async def append(self, lines: Sequence[QueueLogLine], position: LedgerPosition,
                     at: datetime) -> list[str]:
        touched: dict[str, None] = {}
        for line in lines:
            self.lines.append(line)
            self._last[line.callid] = max(line.at, self._last.get(line.callid, line.at))
            self._settled.discard(line.callid)
            touched[line.callid] = None
        self.positions[position.path] = position
        return list(touched)

    async def lines_of(self, callid: str) -> list[QueueLogLine]:
        return [line for line in self.lines if line.callid == callid]

    async def unsettled(self, last_line_before: datetime, limit: int) -> list[str]:
        waiting = sorted((t, c) for c, t in self._last.items()
                         if c not in self._settled and t < last_line_before)
        return [c for _, c in waiting[:limit]]

    async def call_of(self, callid: str) -> Call | None:
        call_id = self.calls._ids.get(callid)
        return None if call_id is None else self.calls._by_id[call_id]

    async def settle(self, callid: str, call: Call, verdict: str, at: datetime) -> Call:
        old = await self.call_of(call.linkedid)
        call_id = old.id if old is not None and old.id is not None else len(self.calls._by_id) + 1
        if old is not None and old.case_link is CaseLink.AGENT:
            call = replace(call, case_ref=old.case_ref, case_link=old.case_link)
        stored = replace(call, id=call_id, ledger=verdict)
        self.calls._by_id[call_id] = stored
        self.calls._ids[call.linkedid] = call_id
        self._settled.add(callid)
        return stored

    async def give_up(self, callid: str, at: datetime) -> None:
        self._settled.add(callid)

    async def counts(self) -> LedgerCounts:
        verdicts = [c.ledger for c in self.calls._by_id.values() if c.ledger is not None]
        agreed = verdicts.count("agrees")
        settled = len(self._settled & set(self._last))
        return LedgerCounts(len(self._last), settled, agreed, len(verdicts) - agreed,
                            len(self._last) - settled)


def _matches(c: Call, q: CallQuery) -> bool:
    return ((q.since is None or c.arrived_at >= q.since)
            and (q.until is None or c.arrived_at < q.until)
            and (q.queue is None or c.queue == q.queue)
            and (q.outcome is None or c.outcome == q.outcome)
            and (q.case_ref is None or c.case_ref == q.case_ref)
            and (q.cursor is None or Keyset.of(c.arrived_at, c.id) < q.cursor))


class InMemoryCaseRepository:
    def __init__(self) -> None:
        self._cases: dict[str, Case] = {}

    async def add(self, case: Case) -> Case:
        if case.ref in self._cases:
            raise CaseExists(case.ref)
        self._cases[case.ref] = case
        return case

    async def get(self, ref: str) -> Case:
        try:
            return self._cases[ref]
        except KeyError:
            raise NoSuchCase(ref) from None

    async def find(self, status: CaseStatus | None, phone: str | None, limit: int,
                   cursor: str | None) -> tuple[list[Case], str | None]:
        found = [c for ref, c in sorted(self._cases.items())
                 if (status is None or c.status == status) and (phone is None or c.phone == phone)
                 and (cursor is None or ref > cursor)]
        items = found[:limit]
        return items, (items[-1].ref if len(found) > limit and items else None)

    async def latest_open_for(self, phone: str) -> Case | None:
        found = [c for c in self._cases.values()
                 if c.phone == phone and c.status is CaseStatus.OPEN]
        return max(found, key=lambda c: c.created_at) if found else None

    async def latest_open_for_each(self, phones: Collection[str]) -> dict[str, Case]:
        found = {phone: await self.latest_open_for(phone) for phone in phones}
        return {phone: case for phone, case in found.items() if case is not None}

    async def get_each(self, refs: Collection[str]) -> dict[str, Case]:
        return {ref: self._cases[ref] for ref in refs if ref in self._cases}

    async def set_status(self, ref: str, status: CaseStatus, at: datetime) -> Case:
        case = await self.get(ref)
        self._cases[ref] = replace(case, status=status, updated_at=at)
        return self._cases[ref]


class InMemoryAuditRepository:
    def __init__(self) -> None:
        self.entries: list[AuditEntry] = []

    async def append(self, entry: AuditEntry) -> None:
        self.entries.append(entry)

    async def between(self, start: datetime, end: datetime) -> list[AuditEntry]:
        return sorted((e for e in self.entries if start <= e.at < end), key=lambda e: e.at)


class InMemoryTokenRepository:
    def __init__(self) -> None:
        self._tokens: dict[str, Token] = {}  # hash -> token
        self._people: dict[str, Person] = {}  # by name
        self._sessions: dict[str, Session] = {}

    async def add(self, token_hash: str, token: Token) -> Token:
        person = Person(token.name, token.role, token.interface)
        if self._people.get(token.name, person) != person:
            raise Conflict(f"{token.name} has the {self._people[token.name].role} role")
        if token.name not in self._people:
            await self.add_person(person, token.created_at)
        self._tokens[token_hash] = replace(token, revoked_at=None, id=len(self._tokens) + 1)
        return self._tokens[token_hash]

    async def find(self, token_hash: str) -> Token | None:
        return self._tokens.get(token_hash)

    async def add_person(self, person: Person, at: datetime) -> Person:
        if person.name in self._people or person.interface in {
                p.interface for p in self._people.values() if p.interface}:
            raise Conflict(f"{person.name} is already a person, or the interface "
                           f"{person.interface} is another person's")
        self._people[person.name] = person
        return person

    async def person(self, name: str) -> Person | None:
        alike = [p for p in self._people.values() if p.name.lower() == name.lower()]
        return self._people.get(name) or (alike[0] if alike else None)

    async def people(self) -> list[Person]:
        return sorted(self._people.values(), key=lambda p: p.name)

    async def all(self) -> list[Token]:
        return sorted(self._tokens.values(), key=lambda t: -(t.id or 0))

    async def revoke(self, token_id: int, at: datetime) -> Token:
        for digest, token in self._tokens.items():
            if token.id == token_id:
                if token.revoked_at is None:
                    self._tokens[digest] = replace(token, revoked_at=at)
                return self._tokens[digest]
        raise NotFound(f"no token {token_id}")

    async def start_session(self, session_hash: str, session: Session) -> None:
        self._sessions[session_hash] = session

    async def session(self, session_hash: str) -> Session | None:
        found, now = self._sessions.get(session_hash), {t.id: t for t in self._tokens.values()}
        return None if found is None else replace(found, token=now[found.token.id])

    async def end_session(self, session_hash: str, at: datetime) -> None:
        found = self._sessions.get(session_hash)
        if found is not None and found.ended_at is None:
            self._sessions[session_hash] = replace(found, ended_at=at)

    async def bound_expiry(self, until: datetime) -> int:
        unbounded = {h: t for h, t in self._tokens.items() if t.expires_at is None}
        self._tokens.update({h: replace(t, expires_at=until) for h, t in unbounded.items()})
        return len(unbounded)


def default_policy(**changes: Any) -> CallbackPolicy:
    """The packaged default policy (callcentre/scheduling/default_policy.toml), changed."""
    doc, where = read_policy("/nonexistent/use-the-packaged-default.toml")
    return replace(load_callback_policy(doc, where), **changes)


class InMemoryCallbackRepository:
    def __init__(self) -> None:
        self._by_id: dict[int, Callback] = {}
        self._linked: dict[str, int] = {}

    async def add(self, callback: Callback) -> Callback:
        key = callback.source_linkedid
        if key is not None and key in self._linked:
            raise DuplicateCallback(f"a callback for call {key} already exists")
        stored = replace(callback, id=len(self._by_id) + 1, version=1)
        self._by_id[stored.id or 0] = stored
        if key is not None:
            self._linked[key] = stored.id or 0
        return stored

    async def update(self, callback: Callback) -> Callback:
        old = await self.get(callback.id or 0)
        if old.version != callback.version:
            raise StaleCallback(f"callback {callback.id} changed meanwhile")
        stored = replace(callback, version=callback.version + 1)
        self._by_id[stored.id or 0] = stored
        return stored

    async def get(self, callback_id: int) -> Callback:
        try:
            return self._by_id[callback_id]
        except KeyError:
            raise NoSuchCallback(callback_id) from None

    async def find(self, query: CallbackQuery) -> tuple[list[Callback], int | None]:
        found = [c for _, c in sorted(self._by_id.items(), reverse=True)
                 if _matches_callback(c, query)]
        items = found[: query.limit]
        more = len(found) > query.limit
        return items, (items[-1].id if more and items else None)

    async def open_for_phone(self, phone: str) -> list[Callback]:
        return [c for _, c in sorted(self._by_id.items()) if c.phone == phone and c.open]

    async def due_before(self, until: datetime) -> list[DueEntry]:
        due = [DueEntry(c.id or 0, c.next_attempt_at, c.due_by) for c in self._by_id.values()
               if c.status is Status.PENDING and c.next_attempt_at is not None
               and c.next_attempt_at < until]
        return sorted(due, key=lambda e: (e.next_attempt_at, e.id))

    async def with_status(self, *statuses: Status) -> list[Callback]:
        return sorted((c for c in self._by_id.values() if c.status in statuses),
                      key=lambda c: (c.due_by, c.id or 0))


def _matches_callback(c: Callback, q: CallbackQuery) -> bool:
    return ((q.status is None or c.status == q.status)
            and (q.owner is None or c.owner == q.owner)
            and (q.due_from is None or c.due_by >= q.due_from)
            and (q.due_until is None or c.due_by < q.due_until)
            and (q.case_ref is None or c.case_ref == q.case_ref)
            and (q.phone is None or c.phone == q.phone)
            and (q.cursor is None or (c.id or 0) < q.cursor))


class FakePbx:
    """A PBX that records what it was asked. Set ``down`` or ``refuse`` to fail requests;
    ``live`` and ``results`` are what resync will find."""

    def __init__(self) -> None:
        self.originated: list[OriginateRequest] = []
        self.variables: list[tuple[str, str, str]] = []
        self.down = False
        self.refuse = False
        self.live: set[str] = set()
        self.results: dict[str, tuple[str, float]] = {}
        self.members: list[MemberChanged] = []

    def _check(self) -> None:
        if self.down:
            raise PbxUnavailable("fake PBX is down")
        if self.refuse:
            raise PbxRefused("fake PBX refused")

    async def originate(self, request: OriginateRequest) -> str:
        self._check()
        self.originated.append(request)
        return f"fake-{len(self.originated)}"

    async def set_variable(self, channel: str, name: str, value: str) -> None:
        self._check()
        self.variables.append((channel, name, value))

    async def live_channels(self) -> set[str]:
        self._check()
        return set(self.live)

    async def queue_members(self) -> list[MemberChanged]:
        self._check()
        return list(self.members)

    async def stored_result(self, channel_id: str) -> tuple[str, float] | None:
        self._check()
        return self.results.get(channel_id)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0,
        microsecond: int = 0) -> datetime:
    """``utc(2026, 11, 23, 9, 30)`` — an aware UTC datetime, for tests."""
    return datetime(year, month, day, hour, minute, second, microsecond, tzinfo=UTC)
