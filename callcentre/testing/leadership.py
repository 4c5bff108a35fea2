"""Several instances, as a test decides: a Leadership standing by until ``grant()``,
deposed by ``depose()``; Notices delivered when the test says."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from callcentre.domain.live import LeaderLive, LeaderReport


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


class FakeNotices:
    """Notices a test delivers (``changed``, ``missed``, ``seen``) and publishing recorded."""

    def __init__(self) -> None:
        self.published: list[LeaderLive] = []
        self._listening: tuple[Any, Any, Any] | None = None
        self._ready = asyncio.Event()

    async def listen(self, changed: Callable[[int], Awaitable[None]],
                     missed: Callable[[], Awaitable[None]],
                     live: Callable[[LeaderLive], None]) -> None:
        self._listening = (changed, missed, live)
        self._ready.set()
        await asyncio.Event().wait()

    async def publish(self, view: LeaderLive) -> None:
        self.published.append(view)

    async def changed(self, callback_id: int) -> None:
        await self._ready.wait()
        assert self._listening is not None
        await self._listening[0](callback_id)

    async def missed(self) -> None:
        await self._ready.wait()
        assert self._listening is not None
        await self._listening[1]()

    async def seen(self, view: LeaderLive) -> None:
        await self._ready.wait()
        assert self._listening is not None
        self._listening[2](view)
