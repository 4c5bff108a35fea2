"""In-memory callbacks, the packaged policy, and a PBX that records what it was asked."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from callcentre.domain.callback_events import MemberChanged
from callcentre.domain.callback_policy import CallbackPolicy
from callcentre.domain.callbacks import Callback, Status
from callcentre.domain.paging import Keyset
from callcentre.errors import (
    DuplicateCallback,
    NoSuchCallback,
    PbxRefused,
    PbxUnavailable,
    StaleCallback,
)
from callcentre.ports import (
    CallbackQuery,
    DueEntry,
    OriginateRequest,
    Page,
)
from callcentre.scheduling.policy import load_callback_policy, read_policy


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

    async def find(self, query: CallbackQuery) -> Page[Callback]:
        found = sorted((c for c in self._by_id.values() if _matches_callback(c, query)),
                       key=_deadline_key, reverse=not query.soonest_first)
        items = found[: query.limit]
        more = len(found) > query.limit
        return Page(items, _deadline_key(items[-1]) if more and items else None)

    async def open_for_phone(self, phone: str) -> list[Callback]:
        return [c for _, c in sorted(self._by_id.items()) if c.phone == phone and c.open]

    async def due_before(self, until: datetime, site: str | None = None) -> list[DueEntry]:
        due = [DueEntry(c.id or 0, c.next_attempt_at, c.due_by) for c in self._by_id.values()
               if c.status is Status.PENDING and c.next_attempt_at is not None
               and c.next_attempt_at < until and site in (None, c.site)]
        return sorted(due, key=lambda e: (e.next_attempt_at, e.id))

    async def open_elsewhere(self, sites: Sequence[str]) -> list[Callback]:
        return sorted((c for c in self._by_id.values() if c.open and c.site not in sites),
                      key=lambda c: (c.due_by, c.id or 0))

    async def with_status(self, *statuses: Status, site: str | None = None) -> list[Callback]:
        return sorted((c for c in self._by_id.values()
                       if c.status in statuses and site in (None, c.site)),
                      key=lambda c: (c.due_by, c.id or 0))


def _matches_callback(c: Callback, q: CallbackQuery) -> bool:
    return ((q.status is None or c.status == q.status)
            and (q.owner is None or c.owner == q.owner)
            and (q.due_from is None or c.due_by >= q.due_from)
            and (q.due_until is None or c.due_by < q.due_until)
            and (q.case_ref is None or c.case_ref == q.case_ref)
            and (q.phone is None or c.phone == q.phone)
            and (q.cursor is None or (_deadline_key(c) > q.cursor if q.soonest_first
                                      else _deadline_key(c) < q.cursor)))


def _deadline_key(c: Callback) -> Keyset:
    return Keyset.of(c.due_by, c.id)


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
