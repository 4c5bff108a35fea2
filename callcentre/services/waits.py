"""What a resident in the queue is told: the estimated wait, and a callback when it is long.

The dialplan asks (UserEvent CallcentreWaitQuery, as the resident joins and at each periodic
announcement: dialplans/extensions_callcentre.conf) and waits a few tenths of a second for
the answer on its channel (AMI Setvar): ``WAIT_OFFER`` (epoch seconds of the callback time
offered, 0: no offer), ``WAIT_MINUTES`` (whole minutes to say, rounded up) and, last, since
the dialplan waits for it, ``WAIT_ESTIMATE`` (seconds; -1: nothing to say). A failure here
never reaches the resident: without an answer the dialplan queues them without a word.

The time offered is kept per call for ``OFFER_KEPT``: a resident who then presses 1 is
promised exactly that time (CallbackDialler.offered -> CallbackService.requested_in_queue).
Each call's first estimate is kept too, to measure it against the wait the resident had.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from callcentre.domain.agents import Agent
from callcentre.domain.callback_events import CallbackRequested
from callcentre.domain.calls import Call, Outcome
from callcentre.domain.live import agent_state
from callcentre.domain.sites import prefix_in, site_of
from callcentre.domain.waits import (
    QueueNow,
    RecentHandling,
    WaitAnnounced,
    WaitAsked,
    WaitLearning,
    WaitTold,
    ahead_of,
    expected_wait,
    minutes_to_say,
    position_among,
    should_offer,
)
from callcentre.errors import PbxRefused, PbxUnavailable
from callcentre.ports import Clock, Pbx
from callcentre.services.callbacks import CallbackService
from callcentre.services.calllog import CallLogService
from callcentre.services.capacity import CapacityService
from callcentre.services.diallers import Diallers

log = logging.getLogger("callcentre.waits")

OFFER_KEPT = timedelta(minutes=30)  # an offer is honoured this long after it was made
KEPT_CALLS = 10_000  # calls whose first estimate and offer are kept at most
DRAIN_SECONDS = 2.0  # at a stop, answers in flight get this long (the dialplan waits 0.5 s)
Model = Callable[[str], Awaitable[tuple[float | None, float | None]]]  # handling, patience
OfferDue = Callable[[str | None, datetime, str], Awaitable[datetime | None]]


@dataclass
class WaitStats:
    asked: int = 0
    answered: int = 0
    failed: int = 0  # the answer could not be worked out or set (logged)
    skipped: int = 0  # malformed questions are counted by the translator; unknown channels here


class WaitService:
    def __init__(self, pbx: Pbx, clock: Clock, active: Callable[[], Iterable[Call]],
                 agents: Callable[[], Iterable[Agent]], model: Model, offer_due: OfferDue,
                 offer_wait_seconds: float) -> None:
        self._pbx = pbx
        # another site's PBX by its prefix (domain/sites.py): a resident queued there is
        # answered through it (app.py); the main PBX's residents through ``pbx``
        self.site_pbxs: dict[str, Pbx] = {}
        self._clock = clock
        self._active = active  # the call log's calls in progress
        self._agents = agents  # the agent board
        self._model = model
        self._offer_due = offer_due
        self._threshold = offer_wait_seconds
        self.recent = RecentHandling()  # talk times: until the waits have taught more
        self.learnt = WaitLearning()  # the lag and handling time the waits had teach
        self._told: OrderedDict[str, WaitTold] = OrderedDict()  # linkedid -> first answer
        self._offers: dict[str, WaitTold] = {}  # linkedid -> latest answer with an offer
        self._tasks: set[asyncio.Task[None]] = set()
        self.stats = WaitStats()
        self.on_taken: list[Callable[[str], None]] = []  # queue: an offer was taken
        self.on_error: list[Callable[[str, float], None]] = []  # queue, |estimate - wait|
        self.on_learnt: list[Callable[[str, Mapping[str, float]], None]] = []

    def listen(self, taken: Callable[[str], None], error: Callable[[str, float], None],
               learnt: Callable[[str, Mapping[str, float]], None] | None = None) -> None:
        """``taken(queue)`` when an offer is taken; ``error(queue, seconds)`` when an
        answered call's first estimate can be measured against its wait; ``learnt(queue,
        figures)`` after it, with what the queue's waits have taught (WaitLearning.learnt)."""
        self.on_taken.append(taken)
        self.on_error.append(error)
        if learnt is not None:
            self.on_learnt.append(learnt)

    # --- the dialplan's question ------------------------------------------------------
    def asked(self, event: WaitAsked) -> None:
        self.stats.asked += 1
        task = asyncio.get_running_loop().create_task(self._answer(event))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self, grace: float = DRAIN_SECONDS) -> int:
        """At a stop: let the answers in flight reach their channels (a resident is queued
        either way), cancelling those still going after ``grace`` seconds; how many were."""
        pending = set(self._tasks)
        if not pending:
            return 0
        _, late = await asyncio.wait(pending, timeout=grace)
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)
        if late:
            log.warning("stopping: %d wait answers still going after %g s were cancelled "
                        "(those residents are queued without a word)", len(late), grace)
        return len(late)

    async def _answer(self, event: WaitAsked) -> None:
        try:
            told = await self.estimate(event)
            await self._set(event, told)
        except (PbxRefused, PbxUnavailable) as err:
            self.stats.failed += 1
            log.warning("could not tell the dialplan the wait on %s: %s", event.channel, err)
        except Exception:
            self.stats.failed += 1
            log.exception("working out the wait for %s failed; the resident is queued "
                          "without an announcement", event.channel)
            await self._set_quietly(event)
        else:
            self.stats.answered += 1

    async def estimate(self, event: WaitAsked) -> WaitTold | None:
        """The wait to tell (None: nothing can be said) and the callback offer, kept."""
        now = self._clock.now()
        position = event.position or position_among(self.queued(event.queue), event.linkedid)
        handling, patience = await self._model(event.queue)
        serving, free = self.serving(event.queue)
        talk = self.recent.mean(event.queue, handling)
        queue = QueueNow(serving, free, self.learnt.handling(event.queue, talk), patience,
                         self.learnt.lag(event.queue))
        seconds = expected_wait(position, queue)
        if seconds is None:
            return None
        due = None
        if should_offer(seconds, self._threshold):
            due = await self._offer_due(event.caller_raw, now, site_of(event.linkedid, ""))
        told = WaitTold(event.queue, now, seconds, due, ahead_of(position, queue), serving,
                        patience)
        self._keep(event.linkedid, told)
        return told

    def _pbx_of(self, event: WaitAsked) -> Pbx:
        return self.site_pbxs.get(prefix_in(event.linkedid), self._pbx)

    async def _set(self, event: WaitAsked, told: WaitTold | None) -> None:
        pbx, channel = self._pbx_of(event), event.channel
        if told is None:
            await pbx.set_variable(channel, "WAIT_ESTIMATE", "-1")
            return
        due = told.offered_due
        await pbx.set_variable(channel, "WAIT_OFFER", str(int(due.timestamp())) if due else "0")
        await pbx.set_variable(channel, "WAIT_MINUTES", str(minutes_to_say(told.estimate)))
        await pbx.set_variable(channel, "WAIT_ESTIMATE", str(math.ceil(told.estimate)))

    async def _set_quietly(self, event: WaitAsked) -> None:
        with contextlib.suppress(PbxRefused, PbxUnavailable):
            await self._pbx_of(event).set_variable(event.channel, "WAIT_ESTIMATE", "-1")

    def queued(self, queue: str) -> list[tuple[str, datetime]]:
        """The residents waiting in ``queue`` now: (linkedid, time queued)."""
        return [(c.linkedid, c.queued_at) for c in self._active()
                if c.queue == queue and c.queued_at is not None and c.answered_at is None
                and c.outcome is None]

    def serving(self, queue: str) -> tuple[int, int]:
        """``queue``'s agents logged in and not paused, and how many of them are free."""
        states = [agent_state(a) for a in self._agents()
                  if queue in a.queues and queue not in a.paused_in]
        free = states.count("available")
        return free + states.count("busy"), free

    def _keep(self, linkedid: str, told: WaitTold) -> None:
        if linkedid not in self._told:
            self._told[linkedid] = told
            while len(self._told) > KEPT_CALLS:
                self._told.popitem(last=False)
        if told.offered_due is not None:
            self._offers[linkedid] = told
            if len(self._offers) > KEPT_CALLS:
                self._forget_offers(told.at)

    def _forget_offers(self, now: datetime) -> None:
        for linkedid in [k for k, t in self._offers.items() if now - t.at > OFFER_KEPT]:
            del self._offers[linkedid]

    # --- what became of it -----------------------------------------------------------------
    def offered(self, linkedid: str) -> datetime | None:
        """The callback time this call was offered within ``OFFER_KEPT``, if any."""
        told = self._offers.get(linkedid)
        if told is None or self._clock.now() - told.at > OFFER_KEPT:
            return None
        return told.offered_due

    def announced(self, event: WaitAnnounced) -> None:
        """The dialplan said it (UserEvent CallcentreWaitTold): a call we never answered
        about (another instance answered, or the event is forged) is a counted skip."""
        if event.linkedid not in self._told:
            self.stats.skipped += 1
            log.info("wait told on a call this service gave no estimate for; skipped")

    def callback_requested(self, event: CallbackRequested) -> None:
        told = self._offers.get(event.linkedid)
        if told is not None and self.offered(event.linkedid) is not None:
            for listener in self.on_taken:
                listener(told.queue)

    def call_finished(self, call: Call) -> None:
        """Learn the handling time; measure the first estimate against the wait it had and
        learn from that too (WaitLearning)."""
        told = self._told.pop(call.linkedid, None)
        self._offers.pop(call.linkedid, None)
        talk = call.talk_seconds
        if call.outcome is Outcome.ANSWERED and call.queue and talk is not None:
            self.recent.add(call.queue, talk)
        if told is None or call.outcome is not Outcome.ANSWERED or call.answered_at is None:
            return
        had = max(0.0, (call.answered_at - told.at).total_seconds())
        self.learnt.learn(told, had)
        for listener in self.on_error:
            listener(told.queue, abs(told.estimate - had))
        for learnt in self.on_learnt:
            learnt(told.queue, self.learnt.learnt(told.queue))


class ModelFigures:
    """The capacity model's handling time and patience per queue, read once a day
    (services/capacity.py learns them from the database)."""

    def __init__(self, model: Callable[[str], Awaitable[tuple[float | None, float | None]]],
                 today: Callable[[], date]) -> None:
        self._model = model
        self._today = today
        self._kept: dict[str, tuple[float | None, float | None]] = {}
        self._day: date | None = None

    async def __call__(self, queue: str) -> tuple[float | None, float | None]:
        if self._day != self._today() or len(self._kept) > 64:
            self._kept, self._day = {}, self._today()
        if queue not in self._kept:
            self._kept[queue] = await self._model(queue)
        return self._kept[queue]


def wait_service(pbxs: dict[str, Pbx], clock: Clock, calllog: CallLogService, dialler: Diallers,
                 capacity: CapacityService, callbacks: CallbackService,
                 offer_wait_seconds: float) -> WaitService:
    """The wait service over the running parts (app.py wires it; the dialler asks it for
    the time a resident was offered)."""
    async def figures(queue: str) -> tuple[float | None, float | None]:
        model = await capacity.model(queue)
        return model.handling_seconds, model.patience_seconds

    waits = WaitService(pbxs[""], clock, calllog.tracker.active, dialler.board.all,
                        ModelFigures(figures, capacity.today), callbacks.offer_due,
                        offer_wait_seconds)
    waits.site_pbxs = {prefix: pbx for prefix, pbx in pbxs.items() if prefix}
    dialler.set_offered(waits.offered)
    return waits
