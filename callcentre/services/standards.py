"""The standards report: figures for a day, week or month, from the database.

The repository keeps each day's figures as calls are stored, so any period, of any queue,
costs one read of its days: the first view of a year as much as the hundredth.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from zoneinfo import ZoneInfo

from callcentre.domain.callback_figures import CallbackPeriod
from callcentre.domain.periods import Period, PeriodKind, period_containing, recent
from callcentre.domain.sites import callback_site, site_of
from callcentre.domain.standards import Standards, Targets, summarise
from callcentre.domain.survey import SurveyByAgent, SurveyTally, merge_tallies
from callcentre.ports import CallbackFiguresSource, Clock, Queues, StandardsRepository


@dataclass(frozen=True)
class Report:
    period: Period
    standards: Standards
    trend: list[tuple[Period, Standards]]  # recent periods, oldest first, this one last
    thresholds: tuple[int, ...]
    targets: Targets
    queue: str | None
    callbacks: CallbackPeriod | None = None  # the council's or the site's; None for a queue
    survey_agents: SurveyByAgent = field(default_factory=dict)  # the period's, by agent
    site: str | None = None  # the figures of this site's queues (when queue is None)

    @property
    def survey(self) -> SurveyTally:
        """The post-call survey of the period (of ``queue``), every agent together."""
        return merge_tallies(self.survey_agents.values())


class StandardsService:
    def __init__(self, repo: StandardsRepository, clock: Clock, tz: ZoneInfo,
                 thresholds: Sequence[int], short_abandon: int, targets: Targets,
                 callbacks: CallbackFiguresSource | None = None,
                 sites: tuple[str, ...] = ()) -> None:
        self._repo = repo
        self.sites = sites  # the PBXs' names, the main one first (with several)
        self._clock = clock
        self._tz = tz
        self.thresholds = tuple(sorted(thresholds))
        self._short = short_abandon
        self.targets = targets
        self._callbacks = callbacks

    def today(self) -> date:
        return self._clock.now().astimezone(self._tz).date()

    async def standards(self, first_day: date, end_day: date, queue: Queues) -> Standards:
        """The standards of local days [first_day, end_day), of ``queue`` (None: all)."""
        figures = await self._repo.figures(first_day, end_day, queue)
        return summarise(figures, self.thresholds, self._short)

    async def report(self, kind: PeriodKind, day: date | None, queue: str | None = None,
                     trend_periods: int = 6, site: str | None = None) -> Report:
        """The period's report of ``queue``, or of ``site``'s queues, or the council's."""
        day = day or self.today()
        return await self._report(period_containing(kind, day),
                                  recent(kind, day, trend_periods), queue, site)

    async def range_report(self, period: Period, queue: str | None = None,
                           site: str | None = None) -> Report:
        """A range of days as one period: its trend is itself."""
        return await self._report(period, [period], queue, site)

    async def _report(self, period: Period, trend_periods: Sequence[Period],
                      queue: str | None, site: str | None) -> Report:
        """``trend_periods`` end with ``period``."""
        scope = await self.scope(queue, site)
        trend = [(p, await self.standards(p.first_day, p.end_day, scope)) for p in trend_periods]
        return Report(period, trend[-1][1], trend, self.thresholds, self.targets, queue,
                      None if queue is not None else await self.callback_period(period, site),
                      await self.survey(period, scope), site if queue is None else None)

    async def scope(self, queue: str | None, site: str | None) -> Queues:
        """Whose figures: ``queue``'s, else the queues of ``site`` (one of ``sites``), else
        every call (None)."""
        if queue is not None or site is None:
            return queue
        return tuple(q for q in await self.queues() if site_of(q, self.sites[0]) == site)

    async def site_queues(self, site: str) -> Queues:
        """The queues of the site a callback is dialled through (Callback.site: "" the main
        PBX): what its promises are sized to (services/promises.py)."""
        return await self.scope(None, site or self.sites[0])

    async def site_scope(self, site: str) -> tuple[Queues, str]:
        """``site``'s queues and the name its callbacks carry (Callback.site): what its
        staffing advice is worked out from (services/capacity.py)."""
        return await self.scope(None, site), callback_site(site, self.sites[0])

    async def survey(self, period: Period, queue: Queues) -> SurveyByAgent:
        return await self._repo.survey(period.first_day, period.end_day, queue)

    async def callback_period(self, period: Period,
                              site: str | None = None) -> CallbackPeriod | None:
        """The callbacks made and due in ``period``: the council's, or those ``site``
        dials (Callback.site names the main PBX "")."""
        if self._callbacks is None:
            return None
        if site is not None and self.sites:
            site = callback_site(site, self.sites[0])
        return await self._callbacks.period(*period.bounds(self._tz), site)

    async def queues(self) -> list[str]:
        return await self._repo.queues()
