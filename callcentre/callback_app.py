"""The callback feature, wired: the part of the composition root that is about callbacks.

app.py builds one ``CallbackFeature`` and calls four hooks: ``on_message`` (every AMI
event), ``on_connected`` (after each AMI login), ``start`` (with the service's exit
stack) and ``web_deps`` (for the HTTP routes). Everything else stays in here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta
from typing import Any

from callcentre.ami.callback_translate import CallbackTranslator
from callcentre.ami.pbx import AmiPbx, SendAction
from callcentre.ami.protocol import Message
from callcentre.config import Config
from callcentre.domain.agents import AgentBoard
from callcentre.domain.callback_policy import CallbackPolicy
from callcentre.domain.callbacks import Callback, Status
from callcentre.errors import PbxUnavailable
from callcentre.ports import CallbackQuery, CallRepository, CaseRepository, Clock
from callcentre.scheduling.due_loop import HeapScheduler
from callcentre.services.callback_dialler import CallbackDialler, DiallerSettings
from callcentre.services.callbacks import CallbackService
from callcentre.services.calllog import CallLogService
from callcentre.storage.callback_repository import SqliteCallbackRepository
from callcentre.storage.db import Database
from callcentre.web.callbacks import CallbackWebDeps, ChangeFeed
from callcentre.web.callbacks_view import callback_json

log = logging.getLogger("callcentre.callbacks")
UPCOMING = timedelta(hours=8)  # the agent page shows deadlines this far ahead
SHOWN = 25


class CallbackFeature:
    def __init__(self, config: Config, policy: CallbackPolicy, db: Database,
                 cases: CaseRepository, calls: CallRepository, calllog: CallLogService,
                 clock: Clock, send_action: SendAction) -> None:
        self._config = config
        self._clock = clock
        self._db = db
        self.policy = policy
        self.repo = SqliteCallbackRepository(db)
        self.service = CallbackService(self.repo, cases, calls, self.policy, clock,
                                       config.default_region)
        self.translator = CallbackTranslator(clock)
        self.pbx = AmiPbx(send_action, self.translator)
        settings = DiallerSettings(agent_ring_seconds=config.callback_agent_ring_seconds,
                                   caller_id=config.callback_caller_id)
        self.dialler = CallbackDialler(self.service, HeapScheduler(), AgentBoard(), self.pbx,
                                       clock, settings)
        self.feed = ChangeFeed()
        self.service.on_change(self.feed.bump)
        self.dialler.on_prompt = self.feed.bump
        calllog.on_finished(self.service.on_call_finished)

    def on_message(self, msg: Message) -> None:
        self.dialler.handle(self.translator(msg))

    def on_connected(self) -> None:
        self.service.spawn(self._resync())

    async def _resync(self) -> None:
        for delay in (0.5, 1, 2, 4):
            await asyncio.sleep(delay)  # let the login's FullyBooted and resync settle
            try:
                resolved = await self.dialler.resync()
            except PbxUnavailable as err:
                log.warning("callback resync failed (%s); retrying", err)
                continue
            log.info("callbacks: %d agents known, %d attempts resolved after (re)connect",
                     len(self.dialler.board.all()), resolved)
            return

    async def start(self, stack: contextlib.AsyncExitStack) -> None:
        self.dialler.set_channel_prefix(f"callback-{await self._db.installation_id()}")
        task = asyncio.get_running_loop().create_task(self.dialler.run())
        stack.push_async_callback(self._stop, task)

    async def _stop(self, task: asyncio.Task[None]) -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await self.service.drain()

    async def board(self, agent: str | None) -> dict[str, Any]:
        """The agent page's prompts: due now (EDF), needing an outcome, upcoming."""
        now, tz = self._clock.now(), self._config.tz
        ready = sorted(self.dialler.ready.values(), key=lambda e: (e.due_by, e.id))
        due = [await self.repo.get(e.id) for e in ready[:SHOWN]]
        due += await self.repo.with_status(Status.DIALLING)
        upcoming, _ = await self.repo.find(CallbackQuery(
            status=Status.PENDING, due_until=now + UPCOMING, limit=200))
        waiting = {e.id for e in ready}
        upcoming = sorted((c for c in upcoming if c.id not in waiting), key=lambda c: c.due_by)

        def mine(cbs: list[Callback]) -> list[Callback]:
            return [c for c in cbs if agent is None or c.owner in (None, agent)][:SHOWN]

        return {
            "due": [callback_json(c, tz, await self.service.calls_of(c, 5)) for c in mine(due)],
            "needs_outcome": [callback_json(c, tz) for c in
                              await self.repo.with_status(Status.NEEDS_OUTCOME)],
            "upcoming": [callback_json(c, tz) for c in mine(upcoming)],
            "agents_available": [a.name or a.interface for a in self.dialler.board.available()],
        }

    def web_deps(self) -> CallbackWebDeps:
        return CallbackWebDeps(self.service, self.board, self.feed, self._config.tz)
