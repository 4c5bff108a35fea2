"""After every (re)connect: learn what Asterisk still has, and reconcile the call log.

Waits for ``FullyBooted``, then asks ``CoreShowChannels`` (which contacts still
have channels) and ``QueueStatus`` (who is still queued, and for how long).
Calls we were tracking whose channels are gone ended while we could not see them;
live inbound calls we never saw start are adopted with what Asterisk tells us.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from callcentre.ami.client import ActionResult
from callcentre.ami.errors import AmiError
from callcentre.ami.protocol import Message
from callcentre.ami.translate import Translator
from callcentre.domain.calls import Call, new_call
from callcentre.ports import Clock
from callcentre.services.calllog import CallLogService

log = logging.getLogger("callcentre.ami")

SendAction = Callable[..., Awaitable[ActionResult]]


def _duration(text: str | None) -> timedelta:
    """CoreShowChannel ``Duration: HH:MM:SS`` -> timedelta (zero when unparsable)."""
    try:
        h, m, s = (int(p) for p in (text or "").split(":"))
    except ValueError:
        return timedelta(0)
    return timedelta(hours=h, minutes=m, seconds=s)


def live_linkedids(channels: Sequence[Message]) -> set[str]:
    return {m.get("Linkedid") or m.get("Uniqueid") or "" for m in channels} - {""}


def adoptable(channels: Sequence[Message], queued: Mapping[str, Message], translator: Translator,
              inbound: frozenset[str], now: datetime) -> list[Call]:
    """Inbound caller legs that are live (from CoreShowChannel), as calls to adopt."""
    found = []
    for m in channels:
        uniqueid = m.get("Uniqueid")
        if not uniqueid or uniqueid != m.get("Linkedid"):
            continue
        entry = queued.get(uniqueid)
        if m.get("Context") not in inbound and entry is None:
            continue
        call = new_call(uniqueid, now - _duration(m.get("Duration")), translator.details(m), False)
        if entry is not None:
            wait = timedelta(seconds=int(entry.get("Wait") or 0))
            call = replace(call, queue=entry.get("Queue"), queued_at=now - wait,
                           join_position=int(entry.get("Position") or 0) or None)
        found.append(call)
    return found


class Resync:
    def __init__(self, send_action: SendAction, calllog: CallLogService, translator: Translator,
                 inbound: frozenset[str], clock: Clock, booted_timeout: float = 10.0) -> None:
        self._send = send_action
        self._calllog = calllog
        self._translator = translator
        self._inbound = inbound
        self._clock = clock
        self._booted_timeout = booted_timeout
        self.booted = asyncio.Event()
        self.runs = 0
        self.failures = 0

    def on_message(self, msg: Message) -> None:
        if msg.event == "FullyBooted":
            self.booted.set()

    def link_lost(self) -> None:
        self.booted.clear()

    async def run(self) -> list[Call]:
        """One reconciliation; returns the calls it closed. Failures are logged, not raised."""
        try:
            await asyncio.wait_for(self.booted.wait(), self._booted_timeout)
        except TimeoutError:
            log.warning("no FullyBooted within %.0f s; reconciling anyway", self._booted_timeout)
        open_before = [c.linkedid for c in self._calllog.tracker.active()]
        try:
            channels = (await self._send("CoreShowChannels")).events
            entries = (await self._send("QueueStatus")).events
        except AmiError as err:
            self.failures += 1
            log.warning("resync failed (%s); will retry on the next connect", err)
            return []
        queued = {m.get("Uniqueid") or "": m for m in entries if m.event == "QueueEntry"}
        adopt = adoptable(channels, queued, self._translator, self._inbound, self._clock.now())
        closed = self._calllog.reconcile(open_before, live_linkedids(channels), adopt)
        self.runs += 1
        log.info("resync: %d live channels, %d calls closed as ended while unseen, %d adopted",
                 len(channels), len(closed), len(adopt))
        return closed
