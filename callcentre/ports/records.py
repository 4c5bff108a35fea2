"""Calls, cases, queue_log's ledger and the figures read from them."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Protocol

from callcentre.domain.callback_figures import CallbackCounts, CallbackPeriod
from callcentre.domain.calls import Call, CaseLink, Outcome
from callcentre.domain.capacity import HalfHour
from callcentre.domain.cases import Case, CaseStatus
from callcentre.domain.paging import Keyset
from callcentre.domain.queue_log import QueueLogLine
from callcentre.domain.standards import Figures
from callcentre.domain.survey import SurveyByAgent
from callcentre.ports.base import Page


@dataclass(frozen=True, slots=True)
class CallQuery:
    since: datetime | None = None  # arrived at or after
    until: datetime | None = None  # arrived before
    queue: str | None = None
    outcome: Outcome | None = None
    case_ref: str | None = None
    limit: int = 50
    cursor: Keyset | None = None  # only calls after it: (arrived_at, id) below its key


@dataclass(frozen=True, slots=True)
class RepeatQuery:
    """Is the call ``exclude_linkedid`` a repeat?  Asks for the latest other call from
    ``caller`` that arrived in [since, before), as ``CallRepository.previous_from``."""

    caller: str
    since: datetime
    before: datetime
    exclude_linkedid: str


class CallRepository(Protocol):
    async def save(self, calls: Sequence[Call]) -> list[Call]:
        """Insert or update by linkedid, in one transaction; return the calls with ``id`` set.

        A call already stored as finished is never changed: the stored version is
        returned instead. Raises StorageError when the database fails (nothing is saved)."""

    async def get(self, call_id: int) -> Call:
        """Raises NoSuchCall."""

    async def find(self, query: CallQuery) -> Page[Call]:
        """Newest first by (arrived_at, id), filtered; ``limit`` items at most. Each page
        costs the same however deep it is: the next page starts below ``next_cursor``."""

    async def unfinished(self) -> list[Call]:
        """Calls stored without an outcome (in progress when the service last stopped)."""

    async def previous_from(self, caller: str, since: datetime, before: datetime,
                            exclude_linkedid: str) -> int | None:
        """Id of the latest other call from ``caller`` that arrived in [since, before)."""

    async def previous_from_each(self, queries: Sequence[RepeatQuery]) -> list[int | None]:
        """``previous_from`` for every query, read together; the answers in query order."""

    async def link_case(self, call_id: int, case_ref: str | None, link: CaseLink | None) -> Call:
        """Set (or clear) the call's case link. Raises NoSuchCall."""

    async def set_wrapup(self, call_id: int, code: str | None) -> Call:
        """Set (or clear) the wrap-up code; ``save`` never changes it. Raises NoSuchCall."""


@dataclass(frozen=True, slots=True)
class LedgerPosition:
    """Where reading a queue_log file stopped: the file (device, inode) and the byte offset."""

    path: str
    device: int
    inode: int
    offset: int


@dataclass(frozen=True, slots=True)
class LedgerCounts:
    calls: int = 0  # calls queue_log has lines for
    settled: int = 0  # of which held against the call log
    agreed: int = 0  # of which the call log had right
    corrected: int = 0  # of which the call log had wrong (or had no record of)
    unsettled: int = 0  # calls with lines not yet held against the call log


class LedgerRepository(Protocol):
    """queue_log lines about calls, where reading stopped, and what settling found."""

    async def position(self, path: str) -> LedgerPosition | None:
        """Where reading ``path`` stopped, or None if it was never read."""

    async def append(self, lines: Sequence[QueueLogLine], position: LedgerPosition,
                     at: datetime) -> list[str]:
        """Keep the lines and the new position in one transaction (identical lines are
        each kept: a resident can rejoin a queue within the second); return the callids
        they are about, which become unsettled."""

    async def lines_of(self, callid: str) -> list[QueueLogLine]:
        """The lines about ``callid``, in the order they were read."""

    async def unsettled(self, last_line_before: datetime, limit: int) -> list[str]:
        """Callids with lines not yet settled whose last line is older than given, oldest first."""

    async def call_of(self, callid: str) -> Call | None:
        """The call log's record of the call (its Linkedid is the callid), if any."""

    async def settle(self, callid: str, call: Call, verdict: str, at: datetime) -> Call:
        """Store ``call`` as settled (created if the call log has none; replaced even if
        finished, keeping an agent's case link and wrap-up code), with ``verdict`` ("agrees"
        or what differed), and mark ``callid`` settled."""

    async def give_up(self, callid: str, at: datetime) -> None:
        """Stop trying to settle ``callid`` (until a new line about it arrives)."""

    async def counts(self) -> LedgerCounts:
        """How many calls were settled, agreed and corrected."""


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


# Whose figures: one queue, several (a site's: domain/sites.py), or None for every call.
Queues = str | tuple[str, ...] | None


class StandardsRepository(Protocol):
    """Figures of finished calls per council-local day and queue, kept up to date as calls
    are stored: a period costs its days, not the history."""

    async def figures(self, first_day: date, end_day: date, queue: Queues) -> Figures:
        """The finished calls that arrived on local days [first_day, end_day), of ``queue``
        (None: every call)."""

    async def survey(self, first_day: date, end_day: date, queue: Queues) -> SurveyByAgent:
        """The same calls' post-call survey, by agent (name, else interface; "" for none)."""

    async def queues(self) -> list[str]: ...


class CapacityHistory(Protocol):
    """History of [start, end) per UTC half-hour, oldest first (``queue``: one, several (a
    site's), or None: all queues; empty half-hours left out). Raises StorageError."""

    async def half_hours(self, start: datetime, end: datetime, queue: Queues,
                         site: str | None = None) -> list[HalfHour]:
        """Finished calls by arrival, with the callback attempts by start: every one for all
        queues, ``site``'s (Callback.site) for a site's queues, none for one queue."""
    async def agents(self, start: datetime, end: datetime, queue: Queues) -> list[HalfHour]:
        """``agents``: how many different agents answered the calls that arrived then."""


class CallbackFiguresSource(Protocol):
    """Callback figures for the standards report and the scrape-time metrics."""

    async def period(self, start: datetime, end: datetime,
                     site: str | None = None) -> CallbackPeriod:
        """Callbacks made, and due, in [start, end): every site's, or only ``site``'s
        (Callback.site: "" the main PBX). Raises StorageError."""

    async def counts(self, now: datetime, at_risk_margin: timedelta) -> CallbackCounts:
        """Totals and open callbacks now. Raises StorageError."""
