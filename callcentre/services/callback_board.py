"""The agents' prompts: what the agent page and its server-sent events show.

Due now (earliest deadline first, as the dialler serves them), dialling or needing an
outcome, and upcoming; each agent sees their own and the team's.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from callcentre.domain.callbacks import Callback, Status
from callcentre.domain.calls import Call
from callcentre.domain.live import SHOWN, LeaderLive
from callcentre.errors import NoSuchCallback
from callcentre.ports import CallbackQuery, CallbackRepository, Clock
from callcentre.services.callbacks import CallbackService
from callcentre.services.diallers import Diallers

UPCOMING = timedelta(hours=8)  # the agent page shows deadlines this far ahead


@dataclass(frozen=True)
class Prompts:
    due: list[tuple[Callback, list[Call]]]  # with the case's latest calls
    needs_outcome: list[Callback]
    upcoming: list[Callback]
    agents_available: list[str]


class CallbackBoard:
    def __init__(self, repo: CallbackRepository, service: CallbackService,
                 dialler: Diallers, clock: Clock) -> None:
        self._repo = repo
        self._service = service
        self._dialler = dialler
        self._clock = clock
        # on a standby: the leader's live view (services/relay.py); None: this one's own
        self.remote: Callable[[], LeaderLive | None] = lambda: None

    async def prompts(self, agent: str | None) -> Prompts:
        """The prompts for ``agent`` (None: everyone's)."""
        now, remote = self._clock.now(), self.remote()
        ready, due = await self._due_now(remote)
        due += await self._repo.with_status(Status.DIALLING)
        soonest = await self._repo.find(CallbackQuery(
            status=Status.PENDING, due_until=now + UPCOMING, soonest_first=True, limit=200))
        waiting = set(ready)
        upcoming = [c for c in soonest.items if c.id not in waiting]

        def mine(cbs: list[Callback]) -> list[Callback]:
            return [c for c in cbs if agent is None or c.owner in (None, agent)][:SHOWN]

        return Prompts(
            due=[(c, await self._service.calls_of(c, 5)) for c in mine(due)],
            needs_outcome=await self._repo.with_status(Status.NEEDS_OUTCOME),
            upcoming=mine(upcoming),
            agents_available=([a.name or a.interface for a in self._dialler.board.available()]
                              if remote is None else list(remote.available)),
        )

    async def _due_now(self, remote: LeaderLive | None) -> tuple[list[int], list[Callback]]:
        """The ids of the callbacks due now and the first SHOWN of them, soonest deadline
        first: this instance's diallers', or the leaders' views of several PBXs, each its
        site's soonest first (at most SHOWN each: leader_view), merged by deadline."""
        if remote is None:
            ready = [e.id for e in sorted(self._dialler.ready.values(),
                                          key=lambda e: (e.due_by, e.id))]
            return ready, await self._ready(ready[:SHOWN])
        ready = list(remote.ready)
        due = sorted(await self._ready(ready), key=lambda c: (c.due_by, c.id or 0))
        return ready, due[:SHOWN]

    async def _ready(self, ids: list[int]) -> list[Callback]:
        out = []
        for callback_id in ids:
            with contextlib.suppress(NoSuchCallback):  # the leader's view may lag a delete
                out.append(await self._repo.get(callback_id))
        return out
