"""Residents' personal data: the daily retention purge, and a resident's export and erasure.

The purge anonymises, kind by kind, the records whose period (policy ``[retention]``) is
over, in batches of ``batch`` records, each its own short write, so the call log and the
dialler are never held up for long; it is idempotent (an anonymised record is never read
again) and every run is recorded and logged. Erasure applies the same rule to one number.
Published figures are unchanged by both: anonymising keeps what they are computed from
(storage/retention_repository.py says what goes, per table).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from callcentre.domain import numbers
from callcentre.domain.retention import Changed, Kind, RetentionPolicy
from callcentre.errors import StorageError
from callcentre.ports import Clock, Normaliser, RetentionRepository, RetentionRun

log = logging.getLogger("callcentre.retention")

MAX_BATCHES = 2000  # per kind and run: a million records at the default batch
ChangedListener = Callable[[Kind, int], None]  # (kind, records anonymised), for the metrics


class RetentionService:
    def __init__(self, repo: RetentionRepository, clock: Clock, policy: RetentionPolicy,
                 normalise: Normaliser, *, batch: int = 500) -> None:
        self._repo = repo
        self._clock = clock
        self._policy = policy
        self._normalise = normalise
        self._batch = batch
        self._listeners: list[ChangedListener] = []

    kinds = tuple(Kind)

    def on_changed(self, listener: ChangedListener) -> None:
        self._listeners.append(listener)

    async def run(self, every: timedelta = timedelta(days=1),
                  first_after: timedelta = timedelta(minutes=1)) -> None:
        """Purge ``first_after`` the start (not during it), then every ``every``."""
        await asyncio.sleep(first_after.total_seconds())
        while True:
            try:
                await self.purge()
            except StorageError:
                log.warning("retention purge failed; the next run takes it up", exc_info=True)
            await asyncio.sleep(every.total_seconds())

    async def purge(self) -> Changed:
        """Anonymise every record whose retention period is over; record the run."""
        started = self._clock.now()
        counts = {kind: await self._purge(kind, self._policy.cutoff(kind, started))
                  for kind in Kind}
        run = RetentionRun(started, self._clock.now(), Changed(counts), "purge")
        await self._repo.record_run(run)
        log.info("retention purge: anonymised %s", run.changed)
        return run.changed

    async def _purge(self, kind: Kind, before: datetime) -> int:
        total = 0
        for _ in range(MAX_BATCHES):  # bounded: a record that stayed eligible cannot loop it
            changed = await self._repo.anonymise(kind, before, self._batch)
            total += changed
            self._tell(kind, changed)
            if changed < self._batch:
                return total
            await asyncio.sleep(0)  # between batches, other writers take their turn
        log.warning("retention purge of %s stopped after %d batches; the next run goes on",
                    kind.value, MAX_BATCHES)
        return total

    async def export(self, raw: str) -> dict[str, Any]:
        """Every record of the resident on number ``raw`` (normalised like the service)."""
        number = numbers.require(raw, self._normalise, "number")
        return {"number": number, "records": await self._repo.export(number)}

    async def erase(self, raw: str) -> Changed:
        """Anonymise every record of the resident on number ``raw``; raises Conflict while a
        callback is still owed to them or a call of theirs is in progress."""
        number = numbers.require(raw, self._normalise, "number")
        started = self._clock.now()
        changed = await self._repo.erase(number)
        for kind, n in changed.counts.items():
            self._tell(kind, n)
        await self._repo.record_run(RetentionRun(started, self._clock.now(), changed, "erase"))
        log.info("erased the records of %s: %s", numbers.mask(number), changed)
        return changed

    def _tell(self, kind: Kind, changed: int) -> None:
        if changed:
            for listener in self._listeners:
                listener(kind, changed)
