"""What the instances sharing one database tell each other (ports.Notices).

- Callback changes another instance made: this one's dialler tracks them (the leader
  dials a callback promised on a standby at once, not at its next reload) and its agents'
  pages refresh. When notices may have been missed, the dialler reloads what is due.
- The leader's live view (callers waiting, agents, callbacks due now): the leader
  publishes it every ``every`` seconds when it changed, and at least every ``STALE``/2;
  a standby's wallboard, metrics and agent page show the latest one (``remote``) instead
  of its own, which follows no PBX event. A view older than STALE is not shown.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from callcentre.domain.callbacks import Callback
from callcentre.domain.calls import Call
from callcentre.domain.live import LeaderLive, agent_states, queue_waiting
from callcentre.errors import NoSuchCallback, StorageError
from callcentre.ports import CallbackRepository, Notices
from callcentre.services.diallers import Diallers

log = logging.getLogger("callcentre.callbacks")
STALE = 10.0  # seconds: a standby stops showing the leader's view this long after it


class Relay:
    def __init__(self, notices: Notices, repo: CallbackRepository,
                 track: Callable[[Callback], None], reload: Callable[[], Awaitable[int]],
                 bump: Callable[[], None], view: Callable[[], LeaderLive],
                 leading: Callable[[], bool], every: float = 1.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._notices = notices
        self._repo = repo
        self._track = track
        self._reload = reload
        self._bump = bump
        self._view = view
        self._leading = leading
        self._every = every
        self._monotonic = monotonic
        self._remote: tuple[LeaderLive, float] | None = None

    def remote(self) -> LeaderLive | None:
        """The leader's latest view, on a standby; None on the leader, or when stale."""
        if self._remote is None or self._leading():
            return None
        view, at = self._remote
        return view if self._monotonic() - at < STALE else None

    async def run(self) -> None:
        await asyncio.gather(self._notices.listen(self._changed, self._missed, self._seen),
                             self._publish())

    async def _changed(self, callback_id: int) -> None:
        try:
            callback = await self._repo.get(callback_id)
        except NoSuchCallback:
            return
        self._track(callback)
        self._bump()

    async def _missed(self) -> None:
        reloaded = await self._reload()
        log.info("callback notices may have been missed: %d due callbacks reloaded", reloaded)
        self._bump()

    def _seen(self, view: LeaderLive) -> None:
        changed = self._remote is None or self._remote[0] != view
        self._remote = (view, self._monotonic())
        if changed:
            self._bump()  # agents' pages show the leader's prompts

    async def _publish(self) -> None:
        last: tuple[LeaderLive, float] | None = None
        while True:
            await asyncio.sleep(self._every)
            if not self._leading():
                continue
            view, now = self._view(), self._monotonic()
            if last is not None and last[0] == view and now - last[1] < STALE / 2:
                continue
            try:
                await self._notices.publish(view)
            except StorageError as err:
                log.warning("could not publish the live view to the other instances: %s", err)
                continue
            last = (view, now)


def leader_view(active: Sequence[Call], dialler: Diallers, now: datetime) -> LeaderLive:
    """The leader's own live view: its calls in progress and its dialler's board."""
    ready = sorted(dialler.ready.values(), key=lambda e: (e.due_by, e.id))
    return LeaderLive(queue_waiting(active, now), agent_states(dialler.board.all()),
                      len(active), tuple(e.id for e in ready),
                      tuple(a.name or a.interface for a in dialler.board.available()))
