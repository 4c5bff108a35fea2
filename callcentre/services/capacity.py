"""The capacity model of each queue and the staffing advice for the coming week.

The model is learned from the ``weeks`` whole weeks before today (the window ends at
today's local midnight), so it changes once a day: advice is kept per queue until the local
day changes. Working it out is arithmetic (Erlang A per half-hour), done
in a worker thread so the event loop keeps answering meanwhile.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from callcentre.domain.capacity import CapacityModel, learn
from callcentre.domain.staffing import StaffingAdvice, Standard, advise, next_monday
from callcentre.ports import CapacityHistory, Clock, Queues

KEPT_QUEUES = 64  # advice kept per day; a queue or site name comes from a request


class CapacityService:
    def __init__(self, history: CapacityHistory, clock: Clock, tz: ZoneInfo,
                 targets: Mapping[int, float], weeks: int = 6) -> None:
        """``targets``: threshold seconds -> share to answer within it; staffing aims at the
        shortest threshold's (the answer standard, e.g. 80 % within 20 s)."""
        self._history = history
        self._clock = clock
        self._tz = tz
        first = min(targets)
        self.standard = Standard(first, targets[first])
        self.weeks = weeks
        self._kept: dict[tuple[Queues, str | None], StaffingAdvice] = {}
        self._kept_day: date | None = None

    def today(self) -> date:
        return self._clock.now().astimezone(self._tz).date()

    def _midnight(self, day: date) -> datetime:
        return datetime.combine(day, time(0), self._tz)

    async def model(self, queue: Queues, today: date | None = None,
                    site: str | None = None) -> CapacityModel:
        """The model of ``queue`` (None: every queue, pooled; several: ``site``'s queues,
        pooled, with that site's callbacks) from the whole weeks before ``today`` (default:
        the council's today)."""
        end_day = today or self.today()
        first = self._midnight(end_day - timedelta(weeks=self.weeks))
        end = self._midnight(end_day)
        history = await self._history.half_hours(first, end, queue, site)
        last_week = await self._history.agents(self._midnight(end_day - timedelta(days=7)),
                                               end, queue)
        name = queue if isinstance(queue, str) else None
        return learn(name, history, last_week, first, self.weeks, self._tz)

    async def advice(self, queue: Queues, site: str | None = None) -> StaffingAdvice:
        """Agents needed per half-hour of the coming week (from next Monday), on ``queue``
        (as ``model``: a site's queues pooled, with the callbacks ``site`` dials)."""
        today = self.today()
        if self._kept_day != today or len(self._kept) >= KEPT_QUEUES:
            self._kept, self._kept_day = {}, today
        kept = self._kept.get((queue, site))
        if kept is None:
            model = await self.model(queue, today, site)
            kept = await asyncio.to_thread(advise, model, next_monday(today), self._tz,
                                           self.standard)
            self._kept[queue, site] = kept
        return kept
