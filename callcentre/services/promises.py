"""Deadlines that can be kept: the inputs the pure sizing (domain/promises.py) needs.

The capacity model (every queue pooled: a callback has no queue) gives the spare agents per
half-hour of the week; it changes once a day, so they are worked out (Erlang A for each
half-hour, in a worker thread) once per council-local day. The backlog is the open
callbacks that may be tried before the ceiling, read at each promise. Whatever goes wrong
here, the resident is still promised a time: the fixed rule.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import date, datetime

from callcentre.domain.callback_policy import CallbackPolicy, Source
from callcentre.domain.live import PromiseReport
from callcentre.domain.promises import Capacity, keepable_due, spare_agents, work_seconds
from callcentre.ports import CallbackRepository
from callcentre.services.capacity import CapacityService
from callcentre.services.diallers import Diallers

log = logging.getLogger("callcentre.callbacks")


class PromiseService:
    def __init__(self, capacity: CapacityService, repo: CallbackRepository,
                 policy: CallbackPolicy) -> None:
        self._capacity = capacity
        self._repo = repo
        self._policy = policy
        self._kept: tuple[date, Capacity | None] | None = None
        self.sized = 0  # promises sized to capacity since start
        self.fixed = 0  # promises by the fixed rule (no history, sizing off, or a failure)

    async def capacity(self) -> Capacity | None:
        """Today's spare agents per half-hour and one callback's work; None: no history."""
        today = self._capacity.today()
        if self._kept is None or self._kept[0] != today:
            model = await self._capacity.model(None, today)
            spare = await asyncio.to_thread(spare_agents, model, self._capacity.standard)
            found = (None if spare is None else Capacity(
                spare, work_seconds(model), self._policy.confidence,
                self._policy.retry_spacing[0]))
            self._kept = (today, found)
        return self._kept[1]

    async def due_for(self, source: Source, at: datetime) -> datetime:
        """The deadline to promise a new callback from ``source`` requested ``at``."""
        if self._policy.confidence > 0:
            try:
                due = await self._sized(source, at)
            except Exception:
                log.exception("sizing a promise to capacity failed; the fixed rule applies")
                due = None
            if due is not None:
                self.sized += 1
                return due
        self.fixed += 1
        return self._policy.due_for(source, at)

    async def _sized(self, source: Source, at: datetime) -> datetime | None:
        capacity = await self.capacity()
        if capacity is None:
            return None
        floor, ceiling = self._policy.bounds_for(source, at)
        backlog = [e.due_by for e in await self._repo.due_before(ceiling)]
        return await asyncio.to_thread(keepable_due, capacity, self._policy.calling, at,
                                       backlog, floor, ceiling)


def promise_report(promises: PromiseService, diallers: Diallers) -> PromiseReport:
    """How callbacks were promised and blended since start (every site's), for /metrics."""
    return PromiseReport(promises.sized, promises.fixed,
                         sum(d.stats.held_for_queue for d in diallers),
                         sum(d.blending.held_for_place for d in diallers),
                         sum(d.stats.urgent_over_queue for d in diallers))
