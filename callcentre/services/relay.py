"""What the instances sharing one database tell each other (ports.Notices).

- Callback changes another instance made: this one's dialler tracks them (the leader
  dials a callback promised on a standby at once, not at its next reload) and its agents'
  pages refresh. When notices may have been missed, the dialler reloads what is due.
- The leader's live view (callers waiting, agents, callbacks due now), one per PBX
  (site): the leader of each publishes it every ``every`` seconds when it changed, and at
  least every ``STALE``/2; an instance's wallboard, metrics and agent page show, for each
  PBX it does not lead, the latest view its leader published (``remote``), beside its own
  of the PBXs it leads (a standby follows no event of a PBX it does not lead). A view
  older than STALE is not shown.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime

from callcentre.domain.callbacks import Callback
from callcentre.domain.calls import Call
from callcentre.domain.live import SHOWN, LeaderLive, agent_states, merged, queue_waiting
from callcentre.errors import NoSuchCallback, StorageError
from callcentre.ports import CallbackRepository, Notices
from callcentre.services.callback_dialler import CallbackDialler

log = logging.getLogger("callcentre.callbacks")
STALE = 10.0  # seconds: a standby stops showing the leader's view this long after it


class Relay:
    def __init__(self, notices: Notices, repo: CallbackRepository,
                 track: Callable[[Callback], None], reload: Callable[[], Awaitable[int]],
                 bump: Callable[[], None], view: Callable[[str], LeaderLive],
                 leading: Mapping[str, Callable[[], bool]], every: float = 1.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._notices = notices
        self._repo = repo
        self._track = track
        self._reload = reload
        self._bump = bump
        self._view = view  # this instance's view of a PBX, by its prefix
        self._leading = leading  # each PBX's prefix: does this instance lead it (events pass)
        self._every = every
        self._monotonic = monotonic
        self._remote: dict[str, tuple[LeaderLive, float]] = {}  # by PBX: latest, heard at

    def remote(self) -> LeaderLive | None:
        """The views of the PBXs this instance does not lead, as their leaders last said
        (fresh ones), with its own of those it leads; None when it leads every PBX or
        heard nothing fresh (its own view is all it has)."""
        led = [site for site, leading in self._leading.items() if leading()]
        now = self._monotonic()
        heard = [view for site, (view, at) in self._remote.items()
                 if site in self._leading and site not in led and now - at < STALE]
        if not heard:
            return None
        return merged([*(self._view(site) for site in led), *heard])

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
        before = self._remote.get(view.site)
        self._remote[view.site] = (view, self._monotonic())
        if before is None or before[0] != view:
            self._bump()  # agents' pages show the leader's prompts

    async def _publish(self) -> None:
        last: dict[str, tuple[LeaderLive, float]] = {}
        while True:
            await asyncio.sleep(self._every)
            for site, leading in self._leading.items():
                if leading():
                    await self._publish_site(site, last)

    async def _publish_site(self, site: str, last: dict[str, tuple[LeaderLive, float]]
                            ) -> None:
        view, now = self._view(site), self._monotonic()
        said = last.get(site)
        if said is not None and said[0] == view and now - said[1] < STALE / 2:
            return
        try:
            await self._notices.publish(view)
        except StorageError as err:
            log.warning("could not publish the live view to the other instances: %s", err)
            return
        last[site] = (view, now)


def leader_view(active: Sequence[Call], dialler: CallbackDialler, now: datetime
                ) -> LeaderLive:
    """A leader's own live view of one PBX: its calls in progress (``active``: that PBX's)
    and that PBX's dialler's board."""
    ready = sorted(dialler.ready.values(), key=lambda e: (e.due_by, e.id))[:SHOWN]
    return LeaderLive(queue_waiting(active, now), agent_states(dialler.board.all()),
                      len(active), tuple(e.id for e in ready),
                      tuple(a.name or a.interface for a in dialler.board.available()),
                      dialler.names.prefix)
