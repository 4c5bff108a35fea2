"""A fake of the CapacityHistory port: half-hours given by the test, read by window."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from callcentre.domain.capacity import HalfHour
from callcentre.ports import Queues


@dataclass
class FixedCapacityHistory:
    """Returns the half-hours it holds (per queue: a name, a site's tuple of them, or None:
    every queue) inside the window."""

    calls: dict[Queues, list[HalfHour]] = field(default_factory=dict)
    answering: dict[Queues, list[HalfHour]] = field(default_factory=dict)
    reads: int = 0

    async def half_hours(self, start: datetime, end: datetime, queue: Queues,
                         site: str | None = None) -> list[HalfHour]:
        self.reads += 1
        return sorted((h for h in self.calls.get(queue, []) if start <= h.start < end),
                      key=lambda h: h.start)

    async def agents(self, start: datetime, end: datetime, queue: Queues) -> list[HalfHour]:
        return sorted((h for h in self.answering.get(queue, []) if start <= h.start < end),
                      key=lambda h: h.start)
