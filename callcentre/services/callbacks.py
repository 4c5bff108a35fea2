"""Promised callbacks: what agents and the PBX can do with them, in plain calls.

Every change is read -> pure domain function -> ``update`` (optimistic, retried when
another change won the race) -> listeners told (the dialler re-schedules, the agent page
refreshes). Automatic promises come from finished calls (``on_call_finished``, registered
with CallLogService.on_finished) and from the queue's callback key (``requested_in_queue``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from callcentre.domain import callbacks as cbd
from callcentre.domain import survey
from callcentre.domain.callback_events import CallbackRequested, PromiseTold
from callcentre.domain.callback_outcomes import correct_result
from callcentre.domain.callback_policy import CallbackPolicy, Source
from callcentre.domain.callbacks import AttemptOutcome, Callback, Result, Told
from callcentre.domain.calls import Call, Outcome
from callcentre.domain.cases import check_ref
from callcentre.domain.events import SurveyAnswered, SurveyOffered
from callcentre.domain.numbers import mask, require
from callcentre.domain.sites import callback_site, pbx_id, site_of
from callcentre.errors import DuplicateCallback, InvalidInput, StaleCallback, StorageError
from callcentre.ports import (
    CallbackQuery,
    CallbackRepository,
    CallQuery,
    CallRepository,
    CaseRepository,
    Clock,
    Normaliser,
    Page,
)

log = logging.getLogger("callcentre.callbacks")

Listener = Callable[[Callback], None]
Promiser = Callable[[Source, datetime, str], Awaitable[datetime]]  # services/promises.py
RETRIES = 5  # optimistic-update retries before giving up with StaleCallback
# A callback promised without a language takes the one of the resident's latest call
# within this long (the call it was promised on, usually).
LANGUAGE_MEMORY = timedelta(days=7)
SURVEY_WAIT_S, SURVEY_WAITS = 0.2, 300  # a survey answer waits up to 60 s for its attempt's end


@dataclass
class CallbackStats:
    created: dict[str, int] = field(default_factory=dict)
    cancelled_on_call_in: int = 0
    listener_errors: int = 0
    background_errors: int = 0
    surveys_dropped: int = 0  # survey answers for an attempt that did not end within a minute


@dataclass(frozen=True)
class NewCallback:
    """What an agent (or the system) asks for; ``due_by`` None means the policy's promise."""

    phone: str
    reason: str
    promised_by: str
    case_ref: str | None = None
    owner: str | None = None
    language: str | None = None  # None: the language of the resident's latest call (or "en")
    due_by: datetime | None = None
    not_before: datetime | None = None
    source: Source = Source.AGENT
    source_linkedid: str | None = None
    site: str | None = None  # the PBX to dial it through (a name); None: the call's, or main


class CallbackService:
    def __init__(self, repo: CallbackRepository, cases: CaseRepository, calls: CallRepository,
                 policy: CallbackPolicy, clock: Clock, normalise: Normaliser,
                 languages: tuple[str, ...] = ("en",), sites: tuple[str, ...] = ("main",)) -> None:
        self._repo = repo
        self._sites = sites  # every PBX's name, the main one first
        self._languages = languages  # the council's (setting languages), the default first
        self._cases = cases
        self._calls = calls
        self.policy = policy
        self._clock = clock
        self._normalise = normalise
        self._listeners: list[Listener] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self.stats = CallbackStats()
        # The deadline a new callback is promised when none is asked for: sized to capacity
        # (PromiseService.due_for) once the composition root sets it; else the fixed rule.
        self.promises: Promiser | None = None

    @property
    def repo(self) -> CallbackRepository:
        return self._repo

    def on_change(self, listener: Listener) -> None:
        """Call ``listener(callback)`` after every stored change (and creation)."""
        self._listeners.append(listener)

    def _changed(self, cb: Callback, origin: Listener | None = None) -> Callback:
        for listener in self._listeners:
            if listener == origin:
                continue
            try:
                listener(cb)
            except Exception:
                self.stats.listener_errors += 1
                log.exception("a callback listener failed")
        return cb

    # --- use cases ---------------------------------------------------------------------
    async def create(self, req: NewCallback) -> Callback:
        """Raises InvalidInput (number, reason, deadline), NoSuchCase, DuplicateCallback."""
        at = self._clock.now()
        phone = require(req.phone, self._normalise)
        case_ref = (await self._cases.get(check_ref(req.case_ref))).ref if req.case_ref else None
        site = self._site(req)
        due = req.due_by or await self._promise(req.source, at, site)
        cb = cbd.new_callback(Callback(
            case_ref=case_ref, phone=phone, reason=req.reason, source=req.source,
            promised_by=_name(req.promised_by, "promised_by"), not_before=req.not_before or at,
            due_by=due, created_at=at,
            language=self._language(req) or await self._language_of_latest_call(phone, at),
            owner=_name(req.owner, "owner") if req.owner else None,
            source_linkedid=req.source_linkedid, site=site), self.policy)
        stored = await self._repo.add(cb)
        self.stats.created[req.source] = self.stats.created.get(req.source, 0) + 1
        log.info("callback %s promised to %s by %s, due %s (%s)", stored.id, mask(phone),
                 stored.promised_by, stored.due_by.isoformat(), req.source)
        return self._changed(stored)

    def _site(self, req: NewCallback) -> str:
        """The PBX a callback is dialled through: the one its call came in at, else the one
        asked for (one of the council's), else the main one; as ``Callback.site`` has it."""
        if req.source_linkedid is not None:  # a site no longer configured: the main PBX's
            site = site_of(req.source_linkedid, "")
            return site if site in self._sites[1:] else ""
        if req.site is None:
            return ""
        if req.site not in self._sites:
            raise InvalidInput(f"site must be one of: {', '.join(self._sites)}", field="site")
        return callback_site(req.site, self._sites[0])

    async def _promise(self, source: Source, at: datetime, site: str) -> datetime:
        if self.promises is None:
            return self.policy.due_for(source, at)
        return await self.promises(source, at, site)

    async def _language_of_latest_call(self, phone: str, at: datetime) -> str:
        """An agent promising a callback during or after the resident's call: the language
        that call was in (the dialplan's menu), so the callback goes to a speaker of it."""
        found = await self._calls.previous_from(phone, at - LANGUAGE_MEMORY, at, "")
        if found is None:
            return self._languages[0]
        return (await self._calls.get(found)).language or self._languages[0]

    def _language(self, req: NewCallback) -> str | None:
        """The language an agent asked for (through the API) must be one of the council's, as
        the setting spells it: the dialler routes by it and the dialplan sets the resident's
        CHANNEL(language) to it. The PBX's own (CHANNEL(language) of a queued resident) is kept
        as it came: the dialler serves a language not listed in the first."""
        asked = req.language
        if asked is None or req.source is not Source.AGENT:
            return asked
        for code in self._languages:
            if asked.strip().lower() == code.lower():
                return code
        raise InvalidInput(f"language must be one of: {', '.join(self._languages)}",
                           field="language")

    async def get(self, callback_id: int) -> Callback:
        return await self._repo.get(callback_id)

    async def find(self, query: CallbackQuery) -> Page[Callback]:
        return await self._repo.find(query)

    async def calls_of(self, cb: Callback, limit: int = 20) -> list[Call]:
        """The case's call history (or the number's, when there is no case)."""
        if cb.case_ref is None:
            return []
        return (await self._calls.find(CallQuery(case_ref=cb.case_ref, limit=limit))).items

    async def change(self, callback_id: int, fn: Callable[[Callback, datetime], Callback],
                     ) -> Callback:
        """Apply ``fn(callback, now)`` and store it, re-reading when someone else won."""
        for _ in range(RETRIES):
            cb = await self._repo.get(callback_id)
            try:
                stored = await self._repo.update(fn(cb, self._clock.now()))
            except StaleCallback:
                continue
            return self._changed(stored)
        raise StaleCallback(f"callback {callback_id} keeps changing; try again")

    async def adopt_orphans(self) -> int:
        """Open callbacks of a PBX no longer configured (a site removed, or renamed) are
        dialled through the main PBX from now on, said in their history: none is left
        without a dialler. When this instance takes the main PBX's lead (app.py)."""
        moved = 0
        for cb in await self._repo.open_elsewhere(("", *self._sites[1:])):
            try:
                await self.change(cb.id or 0, _to_main)
            except (StaleCallback, StorageError) as err:  # not on the takeover's path
                log.warning("callback %s of a PBX no longer configured: not moved to the "
                            "main PBX (%s); the next takeover tries again", cb.id, err)
                continue
            moved += 1
        if moved:
            log.warning("%d open callbacks of PBXs no longer configured are dialled through "
                        "the main PBX %s", moved, self._sites[0])
        return moved

    async def save(self, cb: Callback, origin: Listener | None = None) -> Callback:
        """Store a callback changed by the caller (the dialler) and tell every listener but
        ``origin`` (the caller knows its own write); raises StaleCallback."""
        return self._changed(await self._repo.update(cb), origin)

    async def reschedule(self, callback_id: int, due_by: datetime, reason: str, told: Told,
                         by: str) -> Callback:
        return await self.change(callback_id, lambda cb, now: cbd.reschedule(
            cb, due_by, reason, told, _name(by, "by"), now, self.policy))

    async def cancel(self, callback_id: int, reason: str, by: str) -> Callback:
        return await self.change(callback_id, lambda cb, now: cbd.cancel(
            cb, reason, _name(by, "by"), now))

    async def record_outcome(self, callback_id: int, outcome: AttemptOutcome, by: str,
                             note: str | None = None) -> Callback:
        return await self.change(callback_id, lambda cb, now: cbd.record_outcome(
            cb, outcome, _name(by, "by"), now, self.policy, note))

    async def correct_result(self, callback_id: int, result: Result, reason: str,
                             by: str) -> Callback:
        """An agent corrects a closed callback's result; raises IllegalTransition (open or
        cancelled) and InvalidInput (result, reason)."""
        return await self.change(callback_id, lambda cb, now: correct_result(
            cb, result, reason, _name(by, "by"), now))

    async def snooze(self, callback_id: int, until: datetime, by: str) -> Callback:
        return await self.change(callback_id, lambda cb, now: cbd.snooze(
            cb, until, _name(by, "by"), now, self.policy))

    async def accept(self, callback_id: int, agent: str) -> Callback:
        return await self.change(callback_id, lambda cb, now: cbd.accept(
            cb, _name(agent, "agent"), now))

    # --- automatic promises --------------------------------------------------------------
    def spawn(self, coro: Awaitable[Any]) -> None:
        """Run background work from a synchronous handler; errors are logged and counted."""
        task = asyncio.get_running_loop().create_task(self._guard(coro))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _guard(self, coro: Awaitable[Any]) -> None:
        try:
            await coro
        except Exception:
            self.stats.background_errors += 1
            log.exception("callback background work failed")

    async def drain(self) -> None:
        """Wait for background work (shutdown and tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def on_call_finished(self, call: Call) -> None:
        """CallLogService listener: a finished call may create or cancel a promise."""
        self.spawn(self.handle_finished(call))

    async def handle_finished(self, call: Call) -> Callback | None:
        if call.caller is None:
            return None  # withheld: nobody to call back
        if call.outcome is Outcome.ANSWERED:
            await self._resident_called_in(call)
            return None
        source = self._automatic_source(call)
        if source is None or await self._repo.open_for_phone(call.caller):
            return None  # one open promise per resident is enough
        wait = call.wait_seconds or 0
        reason = (f"called while closed ({call.outcome})" if source is Source.OUT_OF_HOURS
                  else f"gave up after {wait:.0f} s waiting in queue {call.queue}")
        return await self._create_quietly(NewCallback(
            call.caller, reason, self.policy.team_name, call.case_ref, source=source,
            source_linkedid=call.linkedid))

    def _automatic_source(self, call: Call) -> Source | None:
        if call.out_of_hours and self.policy.out_of_hours:
            return Source.OUT_OF_HOURS
        limit = self.policy.abandon_after
        if (call.outcome is Outcome.ABANDONED and limit is not None
                and timedelta(seconds=call.wait_seconds or 0) >= limit):
            return Source.ABANDONED
        return None

    async def _create_quietly(self, req: NewCallback) -> Callback | None:
        try:
            return await self.create(req)
        except DuplicateCallback:
            return None
        except InvalidInput as err:
            log.warning("no automatic callback for %s: %s", mask(req.phone), err)
            return None

    async def _resident_called_in(self, call: Call) -> None:
        if not self.policy.cancel_on_call_in or call.caller is None:
            return
        answered = call.answered_at or call.arrived_at
        for cb in await self._repo.open_for_phone(call.caller):
            if cb.status is cbd.Status.PENDING and cb.created_at < answered:
                await self.change(cb.id or 0, lambda c, now: cbd.cancel(
                    c, "the resident phoned in and was answered", "system", now))
                self.stats.cancelled_on_call_in += 1

    async def offer_due(self, caller_raw: str | None, at: datetime,
                        site: str = "") -> datetime | None:
        """The time a callback would be promised by if the resident pressed the callback key
        now, queued at ``site`` (their open callback's, if they have one); None: their
        number is not usable."""
        phone = self._normalise(caller_raw)
        if phone is None:
            return None
        existing = await self._repo.open_for_phone(phone)
        if existing:
            return existing[0].due_by
        return await self._promise(Source.QUEUE_KEYPRESS, at, site)

    async def requested_in_queue(self, event: CallbackRequested,
                                 offered: datetime | None = None) -> Callback | None:
        """The resident pressed the callback key: promise (or reuse the open promise).
        ``offered``: the time the resident was just told (services/waits.py), promised as
        told while it is still ahead."""
        phone = self._normalise(event.caller_raw)
        if phone is None:
            return None
        existing = await self._repo.open_for_phone(phone)
        if existing:
            return existing[0]
        case_ref = event.case_ref
        if case_ref is not None and not await self._case_exists(case_ref):
            case_ref = None
        req = NewCallback(phone, "asked for a call back while waiting in the queue",
                          self.policy.team_name, case_ref, language=event.language,
                          source=Source.QUEUE_KEYPRESS, source_linkedid=event.linkedid,
                          due_by=offered if offered and offered > self._clock.now() else None)
        return await self._create_quietly(req)

    def on_survey(self, event: SurveyOffered | SurveyAnswered) -> None:
        """The post-call survey after a callback (the resident's leg carries CALLBACK_ID):
        noted on that attempt, even once the callback is closed."""
        if event.callback_id is not None:  # the attempt keeps its ChannelId as its PBX has it
            local = replace(event, linkedid=pbx_id(event.linkedid))
            self.spawn(self._note_survey(event.callback_id, local))

    async def _note_survey(self, callback_id: int, event: SurveyOffered | SurveyAnswered,
                           ) -> None:
        # Only once the dialler has stored the attempt's end: the survey follows the agent's
        # hang-up, and a write of ours between the dialler's read and its save of that end
        # made its save stale and lost the end (seen on the real Asterisk).
        for _ in range(SURVEY_WAITS):
            cb = await self._repo.get(callback_id)
            attempt = next((a for a in cb.attempts if a.channel_id == event.linkedid), None)
            if attempt is None:
                return
            if attempt.outcome is not None:
                await self.change(callback_id, lambda cb, now: survey.on_attempt(cb, event))
                return
            await asyncio.sleep(SURVEY_WAIT_S)
        self.stats.surveys_dropped += 1
        log.warning("callback %s: attempt %s never ended; its survey answer is dropped",
                    callback_id, event.linkedid)

    async def _case_exists(self, ref: str) -> bool:
        try:
            await self._cases.get(ref)
        except LookupError:
            return False
        return True

    async def promise_told(self, event: PromiseTold) -> Callback:
        """The dialplan told the resident the promised time: the record says so."""
        def told(cb: Callback, now: datetime) -> Callback:
            entry = cbd.HistoryEntry(event.at, "dialplan", "told", new=cb.due_by.isoformat(),
                                     reason="promised time said in the call", told=Told.PHONE)
            return replace(cb, history=(*cb.history, entry))
        return await self.change(event.callback_id, told)


MAX_NAME = 100  # who promised, owns, accepts or changes a callback (web/openapi_schemas.py)


def _to_main(cb: Callback, now: datetime) -> Callback:
    return cbd.move_to_site(cb, "", now, f"PBX {cb.site} is no longer configured")


def _name(value: str | None, field_name: str) -> str:
    text = (value or "").strip()
    if not text or len(text) > MAX_NAME:
        raise InvalidInput(f"{field_name} must be a name of 1-{MAX_NAME} characters",
                           field=field_name)
    return text
