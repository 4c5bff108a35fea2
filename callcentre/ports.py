"""Ports: what the services need from the outside world, as Protocols.

Each adapter folder implements these (storage/ for the repositories, testing.py
for in-memory fakes); tests/contract runs one suite against both.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, Protocol, TypeVar

from callcentre.domain.calls import Call, CaseLink, Outcome
from callcentre.domain.cases import Case, CaseStatus

T = TypeVar("T")


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware (UTC)."""


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: int | None  # pass back as ``cursor`` for the next page; None on the last


@dataclass(frozen=True, slots=True)
class CallQuery:
    since: datetime | None = None  # arrived at or after
    until: datetime | None = None  # arrived before
    queue: str | None = None
    outcome: Outcome | None = None
    case_ref: str | None = None
    limit: int = 50
    cursor: int | None = None  # newest first: only calls with id < cursor


@dataclass(frozen=True, slots=True)
class RepeatQuery:
    """Is the call ``exclude_linkedid`` a repeat?  Asks for the latest other call from
    ``caller`` that arrived in [since, before), as ``CallRepository.previous_from``."""

    caller: str
    since: datetime
    before: datetime
    exclude_linkedid: str


@dataclass(frozen=True, slots=True)
class Token:
    name: str
    role: str
    created_at: datetime


class CallRepository(Protocol):
    async def save(self, calls: Sequence[Call]) -> list[Call]:
        """Insert or update by linkedid, in one transaction; return the calls with ``id`` set.

        A call already stored as finished is never changed: the stored version is
        returned instead. Raises StorageError when the database fails (nothing is saved).
        """

    async def get(self, call_id: int) -> Call:
        """Raises NoSuchCall."""

    async def find(self, query: CallQuery) -> Page[Call]:
        """Newest first (by id), filtered; ``limit`` items at most."""

    async def unfinished(self) -> list[Call]:
        """Calls stored without an outcome (in progress when the service last stopped)."""

    async def previous_from(self, caller: str, since: datetime, before: datetime,
                            exclude_linkedid: str) -> int | None:
        """Id of the latest other call from ``caller`` that arrived in [since, before)."""

    async def previous_from_each(self, queries: Sequence[RepeatQuery]) -> list[int | None]:
        """``previous_from`` for every query, read together; the answers in query order."""

    async def link_case(self, call_id: int, case_ref: str | None, link: CaseLink | None) -> Call:
        """Set (or clear) the call's case link. Raises NoSuchCall."""


class CaseRepository(Protocol):
    async def add(self, case: Case) -> Case:
        """Raises CaseExists when the reference is taken."""

    async def get(self, ref: str) -> Case:
        """Raises NoSuchCase."""

    async def find(self, status: CaseStatus | None, phone: str | None, limit: int,
                   cursor: str | None) -> tuple[list[Case], str | None]:
        """Ordered by reference; returns the page and the next cursor (a ref) or None."""

    async def latest_open_for(self, phone: str) -> Case | None:
        """The most recently created open case of this resident, if any."""

    async def latest_open_for_each(self, phones: Collection[str]) -> dict[str, Case]:
        """``latest_open_for`` every number, read together; numbers without one left out."""

    async def get_each(self, refs: Collection[str]) -> dict[str, Case]:
        """The cases with these references, by reference, read together; unknown ones left out."""

    async def set_status(self, ref: str, status: CaseStatus, at: datetime) -> Case:
        """Raises NoSuchCase."""


class TokenRepository(Protocol):
    async def add(self, token_hash: str, token: Token) -> None: ...

    async def find(self, token_hash: str) -> Token | None: ...
