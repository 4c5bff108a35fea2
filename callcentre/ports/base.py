"""Page and the clock every port shares."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, Protocol, TypeVar

from callcentre.domain.paging import Keyset

T = TypeVar("T")


Normaliser = Callable[[str | None], str | None]  # raw number -> E.164, or None (see phones.py)


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware (UTC)."""


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: Keyset | None  # pass back as ``cursor`` for the next page; None on the last
