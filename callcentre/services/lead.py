"""This instance's part in consuming its PBX: none while another instance leads it, all of
it while this one does (ports.Leadership says who), and none again once the lead is lost.

While standing by the AMI login stays open and the HTTP side serves, but nothing from
the PBX reaches the consumers (``passes``) and no AMI action is sent for them (``guard``).
Taking the lead runs ``take_back`` (calls in progress from the database, the dialler)
before the first event passes, then ``begin`` (resync, queue_log, purge). Losing it sets
``deposed``: the process must stop, as whatever it holds in memory is stale.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any, TypeVar

from callcentre.domain.live import LeaderReport
from callcentre.errors import PbxUnavailable
from callcentre.ports import Leadership

log = logging.getLogger("callcentre")
R = TypeVar("R")


class Lead:
    def __init__(self, leadership: Leadership, pbx: str,
                 take_back: Callable[[], Awaitable[None]], begin: Callable[[], None],
                 deposed: asyncio.Event | None = None) -> None:
        self.leadership = leadership
        self.pbx = pbx
        self._take_back = take_back
        self._begin = begin
        self.consuming = False  # leading, with the calls in progress taken back
        self.deposed = deposed or asyncio.Event()  # one for every PBX the process leads

    def report(self) -> LeaderReport:
        """The leadership's report, where "leader" waits for the calls to be taken back:
        until then (a moment, longer on a loaded machine) the role is "taking over"."""
        report = self.leadership.report()
        if report.role == "leader" and not self.consuming:
            return replace(report, role="taking over")
        return report

    def passes(self) -> bool:
        """May the PBX's events reach the consumers now? By this instance's own clock: a
        leader whose lease ran out (it was paused) passes nothing, even before it learns
        that another instance took over."""
        return self.consuming and self.leadership.leading()

    def guard(self, send: Callable[..., Awaitable[R]]) -> Callable[..., Awaitable[R]]:
        """``send`` (AMI actions), refused unless this instance leads now."""
        async def send_if_leading(*args: Any, **kwargs: Any) -> R:
            if not self.leadership.leading():
                raise PbxUnavailable(f"this instance does not lead PBX {self.pbx} now")
            return await send(*args, **kwargs)
        return send_if_leading

    async def start(self) -> None:
        """At start-up, one attempt: the sole instance (SQLite) always leads at once, so
        it takes back its calls before the AMI link opens, as it always did."""
        if await self.leadership.try_lead():
            await self._take()
        else:
            log.info("standing by: another instance leads PBX %s", self.pbx)

    async def run(self) -> None:
        """Stand by until leading, keep the lead, and say when it is lost."""
        while not self.consuming:
            if await self.leadership.try_lead():
                await self._take()
        await self.leadership.keep()
        self.consuming = False
        self.deposed.set()

    async def _take(self) -> None:
        await self._take_back()
        self.consuming = True
        self._begin()
