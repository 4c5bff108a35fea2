"""Promised callbacks: their store and the scheduler of their due moments."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from callcentre.domain.callbacks import Callback, Status
from callcentre.domain.paging import Keyset
from callcentre.ports.base import Page


@dataclass(frozen=True, slots=True)
class CallbackQuery:
    status: Status | None = None
    owner: str | None = None
    due_from: datetime | None = None  # due_by at or after
    due_until: datetime | None = None  # due_by before
    case_ref: str | None = None
    phone: str | None = None
    limit: int = 50
    soonest_first: bool = False  # by deadline (due_by, then id): latest first unless this
    cursor: Keyset | None = None  # only callbacks after it in that order


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
        StorageError when the database fails (nothing is stored)."""

    async def update(self, callback: Callback) -> Callback:
        """Store a changed callback, if the stored one still has ``callback.version``;
        return it with ``version`` + 1. Raises NoSuchCallback, StaleCallback (changed
        meanwhile: nothing is stored) or StorageError. Durable when it returns."""

    async def get(self, callback_id: int) -> Callback:
        """Raises NoSuchCallback."""

    async def find(self, query: CallbackQuery) -> Page[Callback]:
        """Filtered, by deadline (latest first, or soonest with ``soonest_first``)."""

    async def open_for_phone(self, phone: str) -> list[Callback]:
        """Open callbacks (pending, dialling or needing an outcome) for this number."""

    async def due_before(self, until: datetime, site: str | None = None) -> list[DueEntry]:
        """Pending callbacks whose next attempt is before ``until``, earliest first; only
        ``site``'s (Callback.site: "" the main PBX) unless it is None."""

    async def with_status(self, *statuses: Status, site: str | None = None) -> list[Callback]:
        """Every callback in one of ``statuses``, by deadline (e.g. dialling ones at start);
        only ``site``'s unless it is None."""

    async def open_elsewhere(self, sites: Sequence[str]) -> list[Callback]:
        """Open callbacks (not closed) whose site is none of ``sites``, by deadline: those of
        a PBX no longer configured."""


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

    def next_at(self) -> datetime | None:
        """The earliest due moment held, or None when nothing is held."""
