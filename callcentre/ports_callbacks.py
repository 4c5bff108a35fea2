"""Ports of the callback feature: repository, scheduler and PBX, as Protocols.

Implementations: storage/callback_repository.py (SQLite) and testing_callbacks.py
(in memory), one contract suite for both in tests/contract/test_callback_repository.py;
scheduling/due_loop.py (CallbackScheduler); ami/pbx.py and testing_callbacks.FakePbx (Pbx).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from callcentre.domain.callback_events import MemberChanged
from callcentre.domain.callbacks import Callback, Status


@dataclass(frozen=True, slots=True)
class CallbackQuery:
    status: Status | None = None
    owner: str | None = None
    due_from: datetime | None = None  # due_by at or after
    due_until: datetime | None = None  # due_by before
    case_ref: str | None = None
    phone: str | None = None
    limit: int = 50
    cursor: int | None = None  # newest first: only callbacks with id < cursor


@dataclass(frozen=True, slots=True)
class DueEntry:
    """What the scheduler needs to know of one open callback."""

    id: int
    next_attempt_at: datetime
    due_by: datetime


class CallbackRepository(Protocol):
    async def add(self, callback: Callback) -> Callback:
        """Store a new callback; return it with ``id`` set and ``version`` 1.

        Raises DuplicateCallback when one with the same ``source_linkedid`` exists, and
        StorageError when the database fails (nothing is stored).
        """

    async def update(self, callback: Callback) -> Callback:
        """Store a changed callback, if the stored one still has ``callback.version``;
        return it with ``version`` + 1. Raises NoSuchCallback, StaleCallback (changed
        meanwhile: nothing is stored) or StorageError. Durable when it returns."""

    async def get(self, callback_id: int) -> Callback:
        """Raises NoSuchCallback."""

    async def find(self, query: CallbackQuery) -> tuple[list[Callback], int | None]:
        """Newest first (by id), filtered; the page and the next cursor (or None)."""

    async def open_for_phone(self, phone: str) -> list[Callback]:
        """Open callbacks (pending, dialling or needing an outcome) for this number."""

    async def due_before(self, until: datetime) -> list[DueEntry]:
        """Pending callbacks whose next attempt is before ``until``, earliest first."""

    async def with_status(self, *statuses: Status) -> list[Callback]:
        """Every callback in one of ``statuses``, by deadline (e.g. dialling ones at start)."""


DueHandler = Callable[[list[DueEntry]], None]


class CallbackScheduler(Protocol):
    """Holds the due moments of the next ``horizon`` and calls the handler when they come.

    The repository is the source of truth: the scheduler is rebuilt from it with
    ``replace_all`` at start-up (and periodically), and told of every change with
    ``set``/``discard``; losing it loses nothing.
    """

    def replace_all(self, entries: Sequence[DueEntry]) -> None:
        """Forget everything held and hold ``entries`` instead."""

    def set(self, entry: DueEntry) -> None:
        """Hold (or move) one callback's due moment."""

    def discard(self, callback_id: int) -> None:
        """Forget a callback (closed, dialling or beyond the horizon); no error if unknown."""

    def pop_due(self, now: datetime) -> list[DueEntry]:
        """Remove and return the entries due at ``now``, earliest deadline first."""


@dataclass(frozen=True, slots=True)
class OriginateRequest:
    """An agent-first call: ring ``agent`` (a device), then the resident on answer."""

    channel_id: str  # becomes the agent leg's Uniqueid/Linkedid: events name it
    agent: str  # e.g. PJSIP/agent1
    phone: str  # E.164
    case_ref: str | None
    callback_id: int
    due_by: datetime
    agent_ring_seconds: int
    caller_id: str


class Pbx(Protocol):
    async def originate(self, request: OriginateRequest) -> str:
        """Ask the PBX to place the call (asynchronously); return the request's ActionID.

        Raises PbxUnavailable when the PBX cannot be asked (link down, timeout) and
        PbxRefused when it refused the request; in neither case was anything dialled.
        """

    async def set_variable(self, channel: str, name: str, value: str) -> None:
        """Set a channel variable (e.g. the promised time). Raises PbxUnavailable/PbxRefused."""

    async def live_channels(self) -> set[str]:
        """Uniqueids and Linkedids of every channel up now. Raises PbxUnavailable."""

    async def queue_members(self) -> list[MemberChanged]:
        """Every queue member's state now (seeds the agent board). Raises PbxUnavailable."""

    async def stored_result(self, channel_id: str) -> tuple[str, float] | None:
        """What the dialplan stored for a finished callback leg: (DIALSTATUS, seconds the
        resident was connected), or None when it stored nothing. Raises PbxUnavailable."""
