"""Callback changes another instance made (ports.Notices), told to this one: its dialler
tracks them (the leader dials a callback promised on a standby at once, not at its next
reload) and its agents' pages refresh. When notices may have been missed, the dialler
reloads what is due from the database."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from callcentre.domain.callbacks import Callback
from callcentre.errors import NoSuchCallback
from callcentre.ports import CallbackRepository, Notices

log = logging.getLogger("callcentre.callbacks")


class Relay:
    def __init__(self, notices: Notices, repo: CallbackRepository,
                 track: Callable[[Callback], None], reload: Callable[[], Awaitable[int]],
                 bump: Callable[[], None]) -> None:
        self._notices = notices
        self._repo = repo
        self._track = track
        self._reload = reload
        self._bump = bump

    async def run(self) -> None:
        await self._notices.listen(self._changed, self._missed)

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
