"""The CallbackScheduler: a heap of due moments within the horizon (plain asyncio due-loop).

Chosen over APScheduler 3.11 (which the issue allows): the service needs only "wake me at
the earliest of these moments", rebuilt from the table; a heap does that in O(log n) per
change, is deterministic under an injected clock, and rebuilds 100,000 entries in well
under a second (bench/callbacks.py). The asyncio waiting is CallbackDialler.run's.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from datetime import datetime

from callcentre.ports import DueEntry


class HeapScheduler:
    """Entries by next_attempt_at; a moved or discarded entry leaves a stale heap item that
    is skipped when it surfaces (lazy deletion), so every change is O(log n)."""

    def __init__(self) -> None:
        self._heap: list[tuple[datetime, int]] = []
        self._entries: dict[int, DueEntry] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def replace_all(self, entries: Sequence[DueEntry]) -> None:
        self._entries = {e.id: e for e in entries}
        self._heap = [(e.next_attempt_at, e.id) for e in self._entries.values()]
        heapq.heapify(self._heap)

    def set(self, entry: DueEntry) -> None:
        self._entries[entry.id] = entry
        heapq.heappush(self._heap, (entry.next_attempt_at, entry.id))

    def discard(self, callback_id: int) -> None:
        self._entries.pop(callback_id, None)

    def next_at(self) -> datetime | None:
        """The earliest moment held, or None."""
        self._drop_stale()
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now: datetime) -> list[DueEntry]:
        due = []
        while self._heap and self._heap[0][0] <= now:
            at, callback_id = heapq.heappop(self._heap)
            entry = self._entries.get(callback_id)
            if entry is not None and entry.next_attempt_at == at:
                del self._entries[callback_id]
                due.append(entry)
        return sorted(due, key=lambda e: (e.due_by, e.id))

    def _drop_stale(self) -> None:
        while self._heap:
            at, callback_id = self._heap[0]
            entry = self._entries.get(callback_id)
            if entry is not None and entry.next_attempt_at == at:
                return
            heapq.heappop(self._heap)
