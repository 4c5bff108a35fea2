"""Leadership on the embedded store: one SQLite file, one service process, which leads
its PBX from start to stop and hears of no other. Several instances need PostgreSQL
(storage/postgres/leadership.py, notices.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from callcentre.domain.live import LeaderLive, LeaderReport


class SoleLeader:
    def __init__(self, pbx: str, instance: str) -> None:
        self._report = LeaderReport(pbx, instance, "sole", since=datetime.now(UTC))

    def leading(self) -> bool:
        return True

    def report(self) -> LeaderReport:
        return self._report

    async def try_lead(self) -> bool:
        return True

    async def keep(self) -> None:
        await asyncio.Event().wait()  # never lost: the process stops first

    async def close(self) -> None:
        return None


class NoNotices:
    """One process: no other instance changes anything behind its back."""

    async def listen(self, changed: Callable[[int], Awaitable[None]],
                     missed: Callable[[], Awaitable[None]],
                     live: Callable[[LeaderLive], None]) -> None:
        await asyncio.Event().wait()

    async def publish(self, view: LeaderLive) -> None:
        return None
