"""The standards report: figures for a day, week or month, from the database.

Days that are over (and settled: no call that arrived then can still change) are
computed once and cached; the rest are computed on demand. So a report covers any
past period, survives restarts, and a month costs at most a few dozen small reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from callcentre.domain.callback_figures import CallbackPeriod
from callcentre.domain.periods import Period, PeriodKind, period_containing, recent
from callcentre.domain.standards import Figures, Standards, Targets, merge, summarise
from callcentre.ports import CallbackFiguresSource, Clock, StandardsRepository


@dataclass(frozen=True)
class Report:
    period: Period
    standards: Standards
    trend: list[tuple[Period, Standards]]  # recent periods, oldest first, this one last
    thresholds: tuple[int, ...]
    targets: Targets
    queue: str | None
    callbacks: CallbackPeriod | None = None  # council-wide; None when not reported


class StandardsService:
    def __init__(self, repo: StandardsRepository, clock: Clock, tz: ZoneInfo,
                 thresholds: Sequence[int], short_abandon: int, targets: Targets,
                 settle: timedelta = timedelta(hours=6),
                 callbacks: CallbackFiguresSource | None = None) -> None:
        self._repo = repo
        self._clock = clock
        self._tz = tz
        self.thresholds = tuple(sorted(thresholds))
        self._short = short_abandon
        self.targets = targets
        self._settle = settle
        self._callbacks = callbacks

    def today(self) -> date:
        return self._clock.now().astimezone(self._tz).date()

    async def figures(self, days: list[date], queue: str | None) -> Figures:
        cached = await self._repo.cached(days, queue)
        parts = []
        for day in days:
            if day in cached:
                parts.append(cached[day])
                continue
            start = datetime.combine(day, time(0), self._tz)
            end = datetime.combine(day + timedelta(days=1), time(0), self._tz)
            figures = await self._repo.figures(start, end, queue)
            if end + self._settle <= self._clock.now():
                await self._repo.store(day, queue, figures, self._clock.now())
            parts.append(figures)
        return merge(parts)

    async def standards(self, days: list[date], queue: str | None) -> Standards:
        return summarise(await self.figures(days, queue), self.thresholds, self._short)

    async def report(self, kind: PeriodKind, day: date | None, queue: str | None = None,
                     trend_periods: int = 6) -> Report:
        day = day or self.today()
        periods = recent(kind, day, trend_periods)
        trend = [(p, await self.standards(p.days(), queue)) for p in periods]
        period = period_containing(kind, day)
        return Report(period, trend[-1][1], trend, self.thresholds, self.targets, queue,
                      await self.callback_period(period) if queue is None else None)

    async def callback_period(self, period: Period) -> CallbackPeriod | None:
        if self._callbacks is None:
            return None
        return await self._callbacks.period(*period.bounds(self._tz))

    async def queues(self) -> list[str]:
        return await self._repo.queues()

    async def warm(self, days_back: int = 400) -> int:
        """Aggregate and cache the settled days not cached yet (run in the background at
        start, so the first month or year asked for is served from the cache)."""
        today = self.today()
        days = [today - timedelta(days=i) for i in range(1, days_back + 1)]
        cached = await self._repo.cached(days, None)
        missing = [d for d in days if d not in cached]
        await self.figures(missing, None)
        return len(missing)
