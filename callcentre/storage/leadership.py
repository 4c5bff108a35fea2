"""Leadership on the embedded store: one SQLite file, one service process, which leads
its PBX from start to stop. Several instances need PostgreSQL
(storage/postgres/leadership.py)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from callcentre.domain.live import LeaderReport


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
