"""Serves due callbacks: prompts agents, dials agent-first through the PBX, judges attempts.

* **Due**: the CallbackScheduler (port; scheduling/due_loop.py) holds the next ``horizon``
  of due moments, rebuilt from the table at start (and every horizon/2) and told of every
  change; ``fire_due`` moves what has come due into ``ready`` (that moment is the
  *prompt*, shown on the agent page).
* **Dispatch**: ready callbacks earliest-deadline-first; one owned by a named agent waits
  for them until ``due_by - owner_hold_back``, then goes to anyone available. Likewise a
  callback goes to an agent who speaks its language (domain/agents.py: queue membership)
  until ``due_by - owner_hold_back``, then to anyone available.
* **Blending** (services/blending.py): residents in the queue first, and a resident who
  pressed the callback key keeps their place in it.
* **Dial**: the attempt is stored (status dialling) *before* Originate, so a crash never
  dials twice; a failed request is stored as ``not_placed``.
* **Judge**: legs.py folds OriginateResponse, DialEnd, the h-extension UserEvent and the
  agent leg's Hangup into the attempt's outcome.
* **Resolve**: at start and after every reconnect, attempts still ``dialling`` are checked
  against the PBX: live ones are followed, finished ones are read from what the dialplan
  stored (AstDB), and the rest become ``link_lost`` (or ``needs_outcome`` if answered).

Each PBX (site) has its own dialler: its agents, its PBX and its callbacks
(``Callback.site``); services/diallers.py hands each the events of its own PBX.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from callcentre.domain import callback_events as cev
from callcentre.domain import callbacks as cbd
from callcentre.domain.agents import Agent, AgentBoard, wanted_language
from callcentre.domain.callbacks import Callback, Status
from callcentre.domain.events import CallerHungUp
from callcentre.domain.resync import Resynced
from callcentre.domain.sites import Namespace
from callcentre.errors import NoSuchCallback, PbxRefused, PbxUnavailable, StaleCallback
from callcentre.ports import (
    CallbackRepository,
    CallbackScheduler,
    Clock,
    DueEntry,
    OriginateRequest,
    Pbx,
)
from callcentre.services.blending import Blending
from callcentre.services.callback_legs import Leg, LegTracker
from callcentre.services.callbacks import CallbackService

log = logging.getLogger("callcentre.callbacks")
JUST_SENT = timedelta(seconds=5)


@dataclass(frozen=True)
class DiallerSettings:
    agent_ring_seconds: int = 20
    channel_prefix: str = "callback"  # + the database's installation id, set at start
    caller_id: str = '"Council callback" <callback>'
    idle_tick: float = 5.0  # re-dispatch this often while callbacks wait for an agent
    stuck_after: timedelta = timedelta(minutes=2)  # legs silent this long are checked
    # Blending: residents waiting longer than this in an agent's queue keep the agent for
    # them (None: off), unless a callback is due within blend_margin.
    blend_wait_seconds: float | None = None
    blend_margin: timedelta = timedelta(minutes=30)
    languages: tuple[str, ...] = ("en",)  # config.languages: the first is the default



@dataclass
class DiallerStats:
    prompted: int = 0
    originated: int = 0
    not_placed: int = 0
    resolved_on_resync: int = 0
    held_for_queue: int = 0  # rounds that dialled nothing more: residents waited too long
    urgent_over_queue: int = 0  # dialled though residents waited: near their deadline
    lateness: deque[float] = field(default_factory=lambda: deque(maxlen=100_000))


class CallbackDialler:
    def __init__(self, service: CallbackService, repo: CallbackRepository,
                 scheduler: CallbackScheduler, board: AgentBoard, pbx: Pbx, clock: Clock,
                 settings: DiallerSettings | None = None, names: Namespace | None = None) -> None:
        self.names = names or Namespace("main", primary=True)  # whose callbacks it dials
        self._service = service  # changes other than its own come from here (track)
        self._repo = repo  # reads; writes go through the service, which tells the others
        self._policy = service.policy
        self.scheduler = scheduler
        self.board = board
        self._pbx = pbx
        self._clock = clock
        self._settings = settings or DiallerSettings()
        self.ready: dict[int, DueEntry] = {}  # due, waiting for an agent
        self.prompted_at: dict[int, datetime] = {}
        self.legs = LegTracker()
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._declined: dict[str, datetime] = {}  # agent -> rest until (did not answer)
        self.stats = DiallerStats()
        self.on_prompt: Callable[[], None] | None = None  # e.g. the agent page's change feed
        self.holding = False  # True: prompt, but place no calls (maintenance, tests)
        # callback id -> why the PBX did not place its last call; until one is placed
        self.refused: dict[int, str] = {}
        self.blending = Blending(self._settings.blend_wait_seconds, self._settings.blend_margin)
        # the callback time a resident was offered while queued (app.py: WaitService.offered)
        self.offered: Callable[[str], datetime | None] = lambda linkedid: None
        service.on_change(self.track)

    # --- scheduling ----------------------------------------------------------------------
    async def rebuild(self) -> int:
        """Reload the scheduler from the table (start-up, and every horizon/2)."""
        entries = await self._repo.due_before(self._clock.now() + self._policy.horizon,
                                              self.names.callback_site)
        held = [e for e in entries if e.id not in self.ready]
        self.scheduler.replace_all(held)
        self._wake.set()
        return len(entries)

    def set_channel_prefix(self, prefix: str) -> None:
        """Name this installation's calls (see migration 004_installation.sql)."""
        self._settings = replace(self._settings, channel_prefix=prefix)

    def track(self, cb: Callback) -> None:
        """CallbackService listener: keep the scheduler and ready set in step."""
        if cb.id is None or cb.site != self.names.callback_site:
            return
        nxt = cb.next_attempt_at
        if not cb.open:
            self.refused.pop(cb.id, None)
        if cb.status is Status.PENDING and nxt is not None:
            self.ready.pop(cb.id, None)
            if nxt < self._clock.now() + self._policy.horizon:
                self.scheduler.set(DueEntry(cb.id, nxt, cb.due_by))
            else:
                self.scheduler.discard(cb.id)
        else:
            self.scheduler.discard(cb.id)
            self.ready.pop(cb.id, None)
            self.prompted_at.pop(cb.id, None)
        self._wake.set()

    def fire_due(self, now: datetime) -> list[DueEntry]:
        """Move what has come due into ``ready``: the prompt moment."""
        due = self.scheduler.pop_due(now)
        for entry in due:
            self.ready[entry.id] = entry
            self.prompted_at[entry.id] = now
            self.stats.lateness.append((now - entry.next_attempt_at).total_seconds())
        self.stats.prompted += len(due)
        if due and self.on_prompt is not None:
            self.on_prompt()
        return due

    async def tick(self) -> None:
        """One round: fire what is due, then dispatch (the run loop, and tests, call it)."""
        self.fire_due(self._clock.now())
        await self.dispatch()

    async def run(self) -> None:
        """Until cancelled: wake at the next due moment, on a change, or every idle_tick."""
        await self.rebuild()
        next_rebuild = self._clock.now() + self._policy.horizon / 2
        while True:
            self._wake.clear()
            try:
                await self.tick()
                await self.sweep_stuck()
                if self._clock.now() >= next_rebuild:
                    await self.rebuild()
                    next_rebuild = self._clock.now() + self._policy.horizon / 2
            except Exception:
                log.exception("callback dispatch failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._sleep_for())

    def _sleep_for(self) -> float:
        nxt = self.scheduler.next_at()
        wait = self._settings.idle_tick if (self.ready or self.legs.active()) else 3600.0
        if nxt is not None:
            wait = min(wait, (nxt - self._clock.now()).total_seconds())
        return max(0.0, wait)

    # --- dispatch ------------------------------------------------------------------------
    async def dispatch(self) -> int:
        """Offer ready callbacks to available agents, earliest deadline first."""
        placed = 0
        if self.holding:
            return 0
        async with self._lock:
            for entry in sorted(self.ready.values(), key=lambda e: (e.due_by, e.id)):
                free = self._free_agents()
                if not free:
                    break
                if not self.blending.agents_for(free, entry.due_by, self._clock.now()):
                    self.stats.held_for_queue += 1
                    break  # earliest deadline first: the rest are further from theirs
                placed += await self._offer(entry)
        return placed

    def _free_agents(self) -> list[Agent]:
        now = self._clock.now()
        busy = self.legs.busy_agents()
        return [a for a in self.board.available()
                if a.interface not in busy and self._declined.get(a.interface, now) <= now]

    async def _offer(self, entry: DueEntry) -> int:
        try:
            cb = await self._repo.get(entry.id)
        except NoSuchCallback:
            self.ready.pop(entry.id, None)
            return 0
        if cb.status is not Status.PENDING:
            self.ready.pop(entry.id, None)
            return 0
        now = self._clock.now()
        if now > self._policy.give_up_at(cb.due_by):
            await self._store(cbd.expire(cb, now))
            return 0
        if self.blending.keeps_place(cb.id or 0, cb.due_by, now):
            return 0
        agent = self.choose_agent(cb, now)
        if agent is None:
            return 0
        return await self._dial(cb, agent, now)

    def choose_agent(self, cb: Callback, now: datetime) -> Agent | None:
        """The owner; else someone who speaks the resident's language; anyone free once
        the deadline is within the owner hold-back. Blending first takes out the agents
        residents are waiting for."""
        free = self.blending.agents_for(self._free_agents(), cb.due_by, now)
        holding = now < cb.due_by - self._policy.owner_hold_back
        if cb.owner:
            owner = next((a for a in free if a.known_as(cb.owner)), None)
            if owner is not None:
                return owner
            if holding:
                return None  # still theirs
        languages = self._settings.languages
        language = wanted_language(cb.language, languages)
        speaker = next((a for a in free if a.speaks(language, languages)), None)
        if speaker is not None or holding:
            return speaker
        return free[0] if free else None

    async def _dial(self, cb: Callback, agent: Agent, now: datetime) -> int:
        channel_id = f"{self._settings.channel_prefix}-{cb.id}-{len(cb.attempts) + 1}"
        dialling = await self._store(cbd.start_attempt(cb, agent.interface, channel_id, now))
        if dialling is None:
            return 0
        leg = self.legs.add(Leg(cb.id or 0, channel_id, agent.interface, now))
        request = OriginateRequest(channel_id, agent.interface, cb.phone, cb.case_ref,
                                   cb.id or 0, cb.due_by, self._settings.agent_ring_seconds,
                                   self._settings.caller_id, self._policy.check,
                                   wanted_language(cb.language, self._settings.languages))
        try:
            leg.action_id = await self._pbx.originate(request)
        except (PbxUnavailable, PbxRefused) as err:
            self._say_refused(cb.id or 0, str(err))
            self.legs.pop(channel_id)
            await self._store(cbd.finish_attempt(dialling, cbd.AttemptOutcome.NOT_PLACED,
                                                 self._clock.now(), self._policy, note=str(err)))
            return 0
        self.stats.originated += 1
        if agent.queues & self.blending.crowded_queues():  # only a callback near its deadline
            self.stats.urgent_over_queue += 1
        self.refused.pop(cb.id or 0, None)
        self.legs.match_early(leg)
        return 1

    def _say_refused(self, callback_id: int, reason: str) -> None:
        """Once per callback until a call of it is placed; the retries back off (domain)."""
        self.stats.not_placed += 1
        level = logging.DEBUG if callback_id in self.refused else logging.WARNING
        log.log(level, "callback %s: the PBX did not place the call (%s); trying again later",
                callback_id, reason)
        self.refused.pop(callback_id, None)  # to the end: the newest reason is last
        self.refused[callback_id] = reason

    def not_placed(self) -> tuple[int, int, str | None]:
        """Callbacks whose last call the PBX did not place, calls not placed since start,
        and the latest reason: for /healthz, /metrics and the wallboard."""
        latest = next(reversed(self.refused.values()), None)
        return len(self.refused), self.stats.not_placed, latest

    async def _store(self, cb: Callback) -> Callback | None:
        try:
            stored = await self._service.save(cb, origin=self.track)
        except StaleCallback:
            log.info("callback %s changed meanwhile; looking again", cb.id)
            self._wake.set()
            return None
        self.track(stored)  # its own write: no need to be told
        return stored

    # --- events from the PBX ---------------------------------------------------------------
    def handle(self, event: cev.CallbackEvent | None) -> None:
        """Apply one translated AMI event (synchronously; storage work is spawned)."""
        if event is None:
            return
        if isinstance(event, cev.MemberChanged | cev.MemberRemoved | cev.DeviceChanged):
            if self.board.apply(event):
                self._wake.set()
        elif isinstance(event, cev.CallbackRequested):
            self._service.spawn(self._promise_in_queue(event))
        elif isinstance(event, cev.PromiseTold):
            self._service.spawn(self._service.promise_told(event))
        else:
            finished = self.legs.apply(event)
            if finished is not None:
                self._service.spawn(self._finish(finished, event.at))

    def caller_hung_up(self, event: CallerHungUp) -> None:
        """A first leg hung up; if it is one of our agent legs, the attempt is over."""
        self.handle(cev.CallbackLegEnded(self.names.local(event.linkedid), event.at))

    async def _promise_in_queue(self, event: cev.CallbackRequested) -> None:
        cb = await self._service.requested_in_queue(event, self.offered(event.linkedid))
        if cb is None:
            await self._pbx.set_variable(event.channel, "CALLBACK_PROMISED", "0")
            return
        self.blending.remember_place(cb.id or 0, event.linkedid)
        await self._pbx.set_variable(event.channel, "CALLBACK_ID", str(cb.id))
        await self._pbx.set_variable(event.channel, "CALLBACK_PROMISED",
                                     str(int(cb.due_by.timestamp())))

    async def _finish(self, leg: Leg, at: datetime) -> None:
        self.legs.pop(leg.channel_id)
        if leg.agent_declined:
            self._declined[leg.agent] = at + cbd.AGENT_RETRY * 5
        try:
            cb = await self._repo.get(leg.callback_id)
        except NoSuchCallback:
            return
        current = cb.current
        if (cb.status is not Status.DIALLING or current is None
                or current.channel_id != leg.channel_id):
            return  # already resolved (a late or duplicate event)
        if leg.dial_status == "ANSWER" and leg.answered_at is None:
            # Followed since a restart: the resident answered while we were away, so how
            # long they talked is unknown. Ask an agent, as for a result read from AstDB.
            cb = cbd.resident_answered(cb, current.answered_at or current.started_at)
            await self._store(cbd.link_lost(cb, at, self._policy))
        else:
            cb, outcome, end = leg.judge(cb, at, self._policy)
            await self._store(cbd.finish_attempt(cb, outcome, end, self._policy))
        self._wake.set()

    # --- start-up and reconnect ------------------------------------------------------------
    def resynced(self, event: Resynced) -> None:
        """After each (re)connect of this dialler's PBX: use the resync's answers."""
        if event.site != self.names.prefix:
            return
        self._service.spawn(self._after_connect(event))

    async def _after_connect(self, event: Resynced) -> None:
        try:
            resolved = await self.resync(event)
        except PbxUnavailable as err:
            log.warning("callback resync failed (%s); the stuck-leg check retries", err)
            return
        log.info("callbacks: %d agents known, %d attempts resolved after (re)connect",
                 len(self.board.all()), resolved)

    async def resync(self, found: Resynced | None = None) -> int:
        """Seed the agent board and resolve attempts left dialling. Returns those resolved.

        ``found``: what the resync after a (re)connect learnt; without it, the PBX is asked.
        """
        members = (found.members if found else  # the resync's are named by site already
                   [self.names.event(m) for m in await self._pbx.queue_members()])
        for member in members:
            self.board.apply(member)
        live = ({self.names.local(i) for i in found.channel_ids} if found
                else await self._pbx.live_channels())
        resolved = 0
        for cb in await self._repo.with_status(Status.DIALLING, site=self.names.callback_site):
            current = cb.current
            if current is None:
                continue
            if current.channel_id in live:
                self.legs.adopt(cb, current).last_event_at = self._clock.now()
                continue
            mine = self.legs.get(current.channel_id)
            if mine is not None and self._clock.now() - mine.started_at < JUST_SENT:
                continue  # Originate on its way: its channel may not exist yet
            resolved += await self._resolve_lost(cb, current)
        self.stats.resolved_on_resync += resolved
        self._wake.set()
        return resolved

    async def _resolve_lost(self, cb: Callback, current: cbd.Attempt) -> int:
        leg = self.legs.pop(current.channel_id) or self.legs.adopted(cb, current)
        stored = await self._pbx.stored_result(current.channel_id)
        now = self._clock.now()
        if stored is not None:
            leg.from_stored(stored[0], current)
        if stored is not None and stored[0] != "ANSWER":
            cb, outcome, end = leg.judge(cb, now, self._policy)
            await self._store(cbd.finish_attempt(cb, outcome, end, self._policy))
            return 1
        if leg.answered_at is not None:
            cb = cbd.resident_answered(cb, leg.answered_at)
        await self._store(cbd.link_lost(cb, now, self._policy))
        return 1

    async def sweep_stuck(self) -> None:
        """Legs silent for ``stuck_after``: ask the PBX whether they are still up."""
        cutoff = self._clock.now() - self._settings.stuck_after
        if any(leg.last_event_at < cutoff for leg in self.legs.active()):
            await self.resync()
