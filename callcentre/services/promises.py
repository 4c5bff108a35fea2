"""Deadlines that can be kept: the inputs the pure sizing (domain/promises.py) needs.

The capacity model (every queue pooled: a callback has no queue; with several PBXs, the
queues of the callback's site, pooled, and that site's callbacks) gives the spare agents per
half-hour of the week; it changes once a day, so they are worked out (Erlang A for each
half-hour, in a worker thread) once per council-local day. The backlog is the open
callbacks that may be tried before the ceiling, read at each promise. Whatever goes wrong
here, the resident is still promised a time: the fixed rule.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import date, datetime

from callcentre.domain.callback_policy import CallbackPolicy, Source
from callcentre.domain.live import PromiseReport
from callcentre.domain.promises import Capacity, keepable_due, spare_agents, work_seconds
from callcentre.ports import CallbackRepository, Queues
from callcentre.services.capacity import CapacityService
from callcentre.services.diallers import Diallers

log = logging.getLogger("callcentre.callbacks")
SiteQueues = Callable[[str], Awaitable[Queues]]


class PromiseService:
    def __init__(self, capacity: CapacityService, repo: CallbackRepository,
                 policy: CallbackPolicy, site_queues: SiteQueues | None = None) -> None:
        self._capacity = capacity
        self._repo = repo
        self._policy = policy
        # several PBXs: a site's queues (Callback.site: "" the main one); each site's
        # promises are sized to its own agents and backlog. None: one PBX, every queue.
        self._site_queues = site_queues
        self._kept: dict[str | None, tuple[date, Capacity | None]] = {}
        self.sized = 0  # promises sized to capacity since start
        self.fixed = 0  # promises by the fixed rule (no history, sizing off, or a failure)

    async def capacity(self, site: str | None = None) -> Capacity | None:
        """Today's spare agents per half-hour and one callback's work, of every queue (or
        of ``site``'s queues and callbacks); None: no history."""
        today = self._capacity.today()
        kept = self._kept.get(site)
        if kept is None or kept[0] != today:
            queues = None if site is None or self._site_queues is None else (
                await self._site_queues(site))
            model = await self._capacity.model(queues, today, site)
            spare = await asyncio.to_thread(spare_agents, model, self._capacity.standard)
            found = (None if spare is None else Capacity(
                spare, work_seconds(model), self._policy.confidence,
                self._policy.retry_spacing[0]))
            kept = self._kept[site] = (today, found)
        return kept[1]

    async def due_for(self, source: Source, at: datetime, site: str = "") -> datetime:
        """The deadline to promise a new callback from ``source`` requested ``at``, to be
        dialled through ``site``'s PBX (Callback.site)."""
        if self._policy.confidence > 0:
            try:
                due = await self._sized(source, at,
                                        site if self._site_queues is not None else None)
            except Exception:
                log.exception("sizing a promise to capacity failed; the fixed rule applies")
                due = None
            if due is not None:
                self.sized += 1
                return due
        self.fixed += 1
        return self._policy.due_for(source, at)

    async def _sized(self, source: Source, at: datetime, site: str | None) -> datetime | None:
        capacity = await self.capacity(site)
        if capacity is None:
            return None
        floor, ceiling = self._policy.bounds_for(source, at)
        backlog = [e.due_by for e in await self._repo.due_before(ceiling, site)]
        return await asyncio.to_thread(keepable_due, capacity, self._policy.calling, at,
                                       backlog, floor, ceiling)


def promise_report(promises: PromiseService, diallers: Diallers) -> PromiseReport:
    """How callbacks were promised and blended since start (every site's), for /metrics."""
    return PromiseReport(promises.sized, promises.fixed,
                         sum(d.stats.held_for_queue for d in diallers),
                         sum(d.blending.held_for_place for d in diallers),
                         sum(d.stats.urgent_over_queue for d in diallers))
