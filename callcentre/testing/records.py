"""In-memory calls, queue_log ledger and cases."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import replace
from datetime import datetime

from callcentre.domain.calls import Call, CaseLink
from callcentre.domain.cases import Case, CaseStatus
from callcentre.domain.paging import Keyset
from callcentre.domain.queue_log import QueueLogLine
from callcentre.errors import (
    CaseExists,
    NoSuchCall,
    NoSuchCase,
)
from callcentre.ports import (
    CallQuery,
    LedgerCounts,
    LedgerPosition,
    Page,
    RepeatQuery,
)


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
            call = replace(call, repeat_of=old.repeat_of or call.repeat_of,
                           wrapup_code=old.wrapup_code)
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

    async def set_wrapup(self, call_id: int, code: str | None) -> Call:
        call = await self.get(call_id)
        self._by_id[call_id] = replace(call, wrapup_code=code)
        return self._by_id[call_id]

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
        wrapup = old.wrapup_code if old is not None else None  # the agent's: never settled over
        stored = replace(call, id=call_id, ledger=verdict, wrapup_code=wrapup)
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
