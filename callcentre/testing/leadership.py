"""A Leadership a test decides: standing by until ``grant()``, deposed by ``depose()``."""

from __future__ import annotations

import asyncio

from callcentre.domain.live import LeaderReport


class FakeLeadership:
    def __init__(self, pbx: str = "main", instance: str = "test") -> None:
        self.pbx, self.instance = pbx, instance
        self.granted = False
        self._leading = False
        self._lost = asyncio.Event()

    def grant(self) -> None:
        """The next try_lead() takes the lead."""
        self.granted = True

    def depose(self) -> None:
        """The lead is lost: leading() is False at once and keep() returns."""
        self._leading = False
        self._lost.set()

    def leading(self) -> bool:
        return self._leading

    async def try_lead(self) -> bool:
        if self.granted and not self._lost.is_set():
            self._leading = True
            return True
        await asyncio.sleep(0.01)  # a real one waits a poll on the lock
        return False

    async def keep(self) -> None:
        await self._lost.wait()

    def report(self) -> LeaderReport:
        role = "leader" if self._leading else ("deposed" if self._lost.is_set() else "standby")
        return LeaderReport(self.pbx, self.instance, role)

    async def close(self) -> None:
        return None
