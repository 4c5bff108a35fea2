"""After every (re)connect: ask Asterisk once what is live, and tell every consumer.

Waits for ``FullyBooted``, publishes ``ResyncStarted``, then asks ``CoreShowChannels``
(which contacts still have channels) and ``QueueStatus`` (who is still queued, and for
how long; every queue member's state) and publishes one ``Resynced`` with the answers.
Who consumes them (the call log, the callback dialler) is app.py's subscription table.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from callcentre.ami.client import ActionResult
from callcentre.ami.errors import AmiError
from callcentre.ami.protocol import Message
from callcentre.ami.translate import Translator, queue_members
from callcentre.domain.calls import Call, new_call
from callcentre.domain.live import NEEDED_ACTIONS
from callcentre.domain.resync import Resynced, ResyncStarted
from callcentre.ports import Clock

log = logging.getLogger("callcentre.ami")

SendAction = Callable[..., Awaitable[ActionResult]]
# A failed resync (an action timed out, the link dropped) is asked again after these waits,
# then left to the next connect: every consumer waits for its one answer.
RETRY_DELAYS: tuple[float | None, ...] = (0.5, 2.0, None)
Publish = Callable[[object], None]


def _duration(text: str | None) -> timedelta:
    """CoreShowChannel ``Duration: HH:MM:SS`` -> timedelta (zero when unparsable)."""
    try:
        h, m, s = (int(p) for p in (text or "").split(":"))
    except ValueError:
        return timedelta(0)
    return timedelta(hours=h, minutes=m, seconds=s)


def live_linkedids(channels: Sequence[Message]) -> set[str]:
    return {m.get("Linkedid") or m.get("Uniqueid") or "" for m in channels} - {""}


def channel_ids(channels: Iterable[Message]) -> set[str]:
    """Every live channel's Uniqueid and Linkedid (callback legs are named by them)."""
    ids: set[str] = set()
    for m in channels:
        ids.update(v for v in (m.get("Uniqueid"), m.get("Linkedid")) if v)
    return ids


# Contexts a resident's own channel runs in by Gosub from the inbound context between
# visits to the queue (dialplans/extensions_callcentre.conf: hearing the estimated wait):
# a live caller leg found there is a resident's call as much as one in ``inbound_contexts``.
# (Queue() itself runs in council-inbound: a Gosub into a context of its own once made the
# real link-down test read an answered call as abandoned, and changed the CDR's dcontext.)
RESIDENT_CONTEXTS = frozenset({"callcentre-wait"})


def adoptable(channels: Sequence[Message], queued: Mapping[str, Message], translator: Translator,
              inbound: frozenset[str], now: datetime) -> list[Call]:
    """Inbound caller legs that are live (from CoreShowChannel), as calls to adopt (or to
    fill in what a tracked call missed): queued since ``Wait`` seconds, or answered. A
    malformed entry is skipped and logged: one bad entry must not cost the whole resync."""
    found = []
    for m in channels:
        try:
            call = _live_call(m, queued, channels, translator, inbound, now)
        except (KeyError, ValueError):
            log.warning("resync: skipped a malformed live channel", exc_info=True)
            continue
        if call is not None:
            found.append(call)
    return found


def _live_call(m: Message, queued: Mapping[str, Message], channels: Sequence[Message],
               translator: Translator, inbound: frozenset[str], now: datetime) -> Call | None:
    uniqueid = m.get("Uniqueid")
    if not uniqueid or uniqueid != m.get("Linkedid"):
        return None
    entry = queued.get(uniqueid)
    if m.get("Context") not in inbound | RESIDENT_CONTEXTS and entry is None:
        return None
    call = new_call(uniqueid, now - _duration(m.get("Duration")), translator.details(m), False)
    if entry is not None:
        wait = timedelta(seconds=int(entry.get("Wait") or 0))
        return replace(call, queue=entry.get("Queue"), queued_at=now - wait,
                       join_position=int(entry.get("Position") or 0) or None)
    agent = queue_agent_leg(m, channels)
    if agent is None:
        return call
    # Out of the queue and bridged to the member's leg that Queue() dialled: an agent
    # answered. That leg was made when it began to ring: the answer came at most its ring
    # time later (whole seconds: AMI can tell no closer; queue_log can).
    queue = (m.get("ApplicationData") or "").split(",")[0] or None
    return replace(call, queue=queue, answered_at=now - _duration(agent.get("Duration")),
                   agent_interface=_interface(agent.get("Channel") or ""),
                   agent_name=m.get("ConnectedLineName") or None)


def queue_agent_leg(caller: Message, channels: Sequence[Message]) -> Message | None:
    """The member's leg (Application ``AppQueue``) bridged with ``caller`` while the caller
    is in Queue(), if any (tests/fixtures/ami/answered_resync.ami)."""
    bridge = caller.get("BridgeId")
    if not bridge or caller.get("Application") != "Queue":
        return None
    return next((m for m in channels if m.get("BridgeId") == bridge
                 and m.get("Application") == "AppQueue"
                 and m.get("Uniqueid") != caller.get("Uniqueid")), None)


def _interface(channel: str) -> str:
    """``PJSIP/agent1-00000001`` -> ``PJSIP/agent1``: the member's device."""
    device, sep, _ = channel.rpartition("-")
    return device if sep else channel


class Resync:
    def __init__(self, send_action: SendAction, translator: Translator, inbound: frozenset[str],
                 clock: Clock, publish: Publish, booted: asyncio.Event,
                 booted_timeout: float = 10.0) -> None:
        self._send = send_action
        self._translator = translator
        self._inbound = inbound
        self._clock = clock
        self._publish = publish
        self._booted_timeout = booted_timeout
        self.booted = booted  # set by AmiEvents on FullyBooted
        self.runs = 0
        self.failures = 0
        self.refused_actions: tuple[str, ...] = ()  # needed actions the account may not send

    def link_lost(self) -> None:
        self.booted.clear()

    async def run(self) -> Resynced | None:
        """One resync; returns what it published. Failures are logged, not raised."""
        try:
            await asyncio.wait_for(self.booted.wait(), self._booted_timeout)
        except TimeoutError:
            log.warning("no FullyBooted within %.0f s; reconciling anyway", self._booted_timeout)
        self._publish(ResyncStarted(self._clock.now()))
        for delay in RETRY_DELAYS:
            try:
                channels = (await self._send("CoreShowChannels")).events
                entries = (await self._send("QueueStatus")).events
                break
            except AmiError as err:
                self.failures += 1
                again = delay is not None and self.booted.is_set()  # still the same link
                log.warning("resync failed (%s); %s", err, "asking again" if again
                            else "will try again on the next connect")
                if delay is None or not again:
                    return None
                await asyncio.sleep(delay)
        found = self._found(channels, entries)
        self.runs += 1
        log.info("resync: %d live channels, %d live inbound calls, %d queue members",
                 found.channels, len(found.adoptable), len(found.members))
        self._publish(found)
        await self._check_rights()
        return found

    async def _check_rights(self) -> None:
        """Ask which actions this login may send (ListCommands lists exactly those) and
        remember the needed ones it may not. An Asterisk that cannot answer is not judged."""
        try:
            allowed = (await self._send("ListCommands")).response
        except AmiError as err:
            log.debug("could not list the actions this AMI account may send: %s", err)
            return
        refused = tuple(a for a in NEEDED_ACTIONS if allowed.get(a) is None)
        if refused != self.refused_actions and refused:
            log.error("the AMI account may not send %s: add the missing write classes in "
                      "manager.conf (see /healthz)", ", ".join(refused))
        self.refused_actions = refused

    def _found(self, channels: Sequence[Message], entries: Sequence[Message]) -> Resynced:
        queued = {m.get("Uniqueid") or "": m for m in entries if m.event == "QueueEntry"}
        now = self._clock.now()
        members = tuple(queue_members(entries))
        return Resynced(now, len(channels), frozenset(live_linkedids(channels)),
                        frozenset(channel_ids(channels)),
                        tuple(adoptable(channels, queued, self._translator, self._inbound, now)),
                        members)


class AmiEvents:
    """The AMI client's one handler: every event message becomes at most one domain event,
    handed to ``publish``. It knows no consumer (app.py's subscription table does)."""

    def __init__(self, translator: Translator, publish: Publish) -> None:
        self._translate = translator
        self._publish = publish
        self.booted = asyncio.Event()  # Asterisk said FullyBooted on this link (Resync waits)

    def __call__(self, msg: Message) -> None:
        if msg.event == "FullyBooted":
            self.booted.set()
        event = self._translate(msg)
        if event is not None:
            self._publish(event)
