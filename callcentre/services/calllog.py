"""The call log: folds PBX events into call records and keeps them in the database.

Events are applied synchronously, in order, as they arrive (``handle``); changed
calls are written behind in batches by one flush task, so a burst of events costs
one transaction, not one per event. A failed write keeps the batch and retries:
nothing accepted is dropped. Enrichment (case link, repeat contact) happens in the
flush, where the database can be asked.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import timedelta

from callcentre.domain import events as ev
from callcentre.domain.calls import Call, CallTracker, CaseLink, with_enrichment
from callcentre.domain.numbers import mask
from callcentre.domain.resync import Resynced, ResyncStarted
from callcentre.domain.sites import in_site
from callcentre.errors import StorageError
from callcentre.ports import CallRepository, CaseRepository, RepeatQuery

log = logging.getLogger("callcentre.calls")

FinishedListener = Callable[[Call], None]


@dataclass
class CallLogStats:
    flushes: int = 0
    calls_written: int = 0
    write_failures: int = 0
    listener_errors: int = 0
    recovered_on_start: int = 0
    reconciled: int = 0
    adopted: int = 0
    set_aside: int = 0  # calls that could not be stored (a value no table holds), logged
    finished: dict[str, int] = field(default_factory=dict)


class CallLogService:
    def __init__(self, tracker: CallTracker, calls: CallRepository, cases: CaseRepository,
                 repeat_window: timedelta, retry_delay: float = 1.0,
                 max_pending: int = 5000) -> None:
        self._tracker = tracker
        self._calls = calls
        self._cases = cases
        self._repeat_window = repeat_window
        self._retry_delay = retry_delay
        self._dirty: dict[str, Call] = {}
        self._max_pending = max_pending
        self._in_flight = 0  # calls of the batch being written
        self._room = asyncio.Event()  # set when the backlog is back to half of max_pending
        self._tried_refs: dict[str, str] = {}  # linkedid -> keyed ref already looked up
        self._set_aside: set[str] = set()  # linkedids that cannot be stored (see _isolate)
        self._flusher: asyncio.Task[None] | None = None  # without a writer task (run)
        self._wanted = asyncio.Event()  # calls marked: the writer has work
        self._writer = False  # run() is the writer
        self._writing = asyncio.Lock()  # one batch at a time: newer versions land last
        self._listeners: list[FinishedListener] = []
        self._open_at_resync: dict[str, list[str]] = {}  # by site (domain/sites.py)
        self.stats = CallLogStats()

    def on_finished(self, *listeners: FinishedListener) -> None:
        """Call each ``listener(call)``, in order, once for every call stored as finished."""
        self._listeners.extend(listeners)

    @property
    def tracker(self) -> CallTracker:
        return self._tracker

    @property
    def pending(self) -> int:
        """Calls changed in memory and not yet stored (the batch being written included)."""
        return len(self._dirty) + self._in_flight

    def full(self) -> bool:
        """At ``max_pending``: the AMI reader should stop until ``drained()`` (back-pressure)."""
        return self.pending >= self._max_pending

    async def drained(self) -> None:
        """Return once the backlog is down to half of ``max_pending``."""
        while self.pending > self._max_pending // 2:
            self._room.clear()
            await self._room.wait()

    def _check_room(self) -> None:
        if self.pending <= self._max_pending // 2:
            self._room.set()

    def handle(self, event: ev.CallEvent | None) -> None:
        """Apply one event (None is ignored, so a translator's result can be passed straight)."""
        if event is None:
            return
        call = self._tracker.apply(event)
        if call is not None:
            self._mark(call)

    def _mark(self, call: Call) -> None:
        if call.linkedid in self._set_aside:
            return
        self._dirty[call.linkedid] = call
        self._wanted.set()
        if not self._writer and (self._flusher is None or self._flusher.done()):
            self._flusher = asyncio.get_running_loop().create_task(self._flush_loop())

    async def run(self) -> None:
        """The writer: stores marked calls behind, until cancelled. app.py runs it under its
        supervisor; without it (tests, benches) each burst starts a flush task of its own."""
        self._writer = True
        try:
            if self._dirty:  # restarted after a failure: what it was writing is still here
                self._wanted.set()
            while True:
                await self._wanted.wait()
                self._wanted.clear()
                await self._flush_loop()
        finally:
            self._writer = False

    async def _flush_loop(self) -> None:
        while self._dirty:
            try:
                await self._flush_once()
            except StorageError:
                self.stats.write_failures += 1
                log.exception("could not save calls; keeping them and retrying")
                await asyncio.sleep(self._retry_delay)
            except Exception:
                # Not the database: one call holds what it cannot store. Store the batch
                # call by call and set that one aside, so it cannot stop the call log.
                self.stats.write_failures += 1
                log.exception("could not save a batch of calls; saving them one by one")
                await self._isolate()

    async def _isolate(self) -> None:
        for linkedid in list(self._dirty):
            call = self._dirty.get(linkedid)
            if call is None:
                continue
            try:
                await self._flush_once({linkedid: call})
            except StorageError:
                raise
            except Exception:
                self._dirty.pop(linkedid, None)
                self._check_room()
                self._set_aside.add(linkedid)
                self.stats.set_aside += 1
                log.exception("call %s cannot be stored; set aside (its later events too)",
                              linkedid)

    async def flush(self) -> None:
        """Write everything pending now (used at shutdown and by tests)."""
        if self._flusher is not None and not self._flusher.done():
            await asyncio.shield(self._flusher)
        if self._dirty:
            try:
                await self._flush_once()
            except StorageError:
                raise
            except Exception:
                await self._isolate()

    async def _flush_once(self, only: dict[str, Call] | None = None) -> None:
        """Store what is pending (or ``only`` those calls); on failure keep it pending."""
        async with self._writing:
            await self._write(only)

    async def _write(self, only: dict[str, Call] | None) -> None:
        if only is None:
            batch, self._dirty = self._dirty, {}
        else:
            batch = only
            for linkedid in only:
                self._dirty.pop(linkedid, None)
        self._in_flight = len(batch)
        try:
            enriched = await self._enrich(batch)
            stored = await self._calls.save(enriched)
        except BaseException:
            # Keep the batch, but don't overwrite newer versions that arrived meanwhile.
            self._dirty = {**batch, **self._dirty}
            raise
        finally:
            self._in_flight = 0
        self.stats.flushes += 1
        self.stats.calls_written += len(stored)
        for call in stored:
            self._settle(call)
        self._check_room()

    def _settle(self, stored: Call) -> None:
        newer = self._dirty.get(stored.linkedid)
        if newer is not None:
            self._dirty[stored.linkedid] = with_enrichment(newer, stored)
        if not stored.finished:
            self._tracker.enrich(stored)
            return
        self._tracker.settle_finished(stored.linkedid)
        self._tried_refs.pop(stored.linkedid, None)
        outcome = stored.outcome or ""
        self.stats.finished[outcome] = self.stats.finished.get(outcome, 0) + 1
        log.info("call %s from %s finished: %s, wait %s s", stored.id, mask(stored.caller),
                 stored.outcome, _seconds(stored.wait_seconds))
        for listener in self._listeners:
            try:
                listener(stored)
            except Exception:
                self.stats.listener_errors += 1
                log.exception("a finished-call listener failed")

    async def _enrich(self, batch: dict[str, Call]) -> list[Call]:
        """Repeat contacts and case links for a whole batch, in three reads.

        Not two reads per call: while AMI events pour in, every await waits behind a
        turn of the busy event loop, and a flush of a few hundred calls took seconds.
        """
        calls = dict(batch)
        await self._mark_repeats(calls)
        linkable = [c for c in calls.values()
                    if c.case_link not in (CaseLink.AGENT, CaseLink.KEYED)]
        unmatched = await self._link_keyed(linkable, calls)
        await self._link_by_number(unmatched, calls)
        return list(calls.values())

    async def _mark_repeats(self, calls: dict[str, Call]) -> None:
        """New calls from a number that called within the repeat window."""
        new: list[Call] = []
        queries: list[RepeatQuery] = []
        for call in calls.values():
            if call.id is None and call.repeat_of is None and call.caller:
                new.append(call)
                since = call.arrived_at - self._repeat_window
                queries.append(RepeatQuery(call.caller, since, call.arrived_at, call.linkedid))
        if not queries:
            return
        previous = await self._calls.previous_from_each(queries)
        for call, repeat_of in zip(new, previous, strict=True):
            if repeat_of is not None:
                calls[call.linkedid] = replace(call, repeat_of=repeat_of)

    async def _link_keyed(self, linkable: list[Call], calls: dict[str, Call]) -> list[Call]:
        """Link to the case whose reference the caller keyed (each reference looked up
        once per call); return the calls left unlinked."""
        to_try: dict[str, str] = {}
        for call in linkable:
            ref = call.keyed_case_ref
            if ref and self._tried_refs.get(call.linkedid) != ref:
                to_try[call.linkedid] = ref
        found = await self._cases.get_each(set(to_try.values())) if to_try else {}
        self._tried_refs.update(to_try)  # once read: a failed read is tried again
        unmatched = []
        for call in linkable:
            ref = to_try.get(call.linkedid)
            case = found.get(ref) if ref else None
            if case is not None:
                calls[call.linkedid] = replace(call, case_ref=case.ref, case_link=CaseLink.KEYED)
                continue
            if ref:
                log.info("call %s keyed unknown case reference", call.linkedid)
            unmatched.append(call)
        return unmatched

    async def _link_by_number(self, unmatched: list[Call], calls: dict[str, Call]) -> None:
        """Link new calls without a case to their number's latest open case."""
        callers: dict[str, str] = {}  # linkedid -> number
        for call in unmatched:
            if call.case_link is None and call.caller and call.id is None:
                callers[call.linkedid] = call.caller
        if not callers:
            return
        latest = await self._cases.latest_open_for_each(set(callers.values()))
        for linkedid, caller in callers.items():
            case = latest.get(caller)
            if case is not None:
                calls[linkedid] = replace(calls[linkedid], case_ref=case.ref,
                                          case_link=CaseLink.NUMBER)

    # --- start-up and resync -------------------------------------------------------------
    async def recover(self, site: str = "") -> int:
        """Take back the calls that were in progress when the service last stopped, of
        the site whose prefix is ``site`` (domain/sites.py; "": the first PBX)."""
        calls = [c for c in await self._calls.unfinished() if in_site(c.linkedid, site)]
        self._tracker.restore(calls)
        self.stats.recovered_on_start = len(calls)
        return len(calls)

    def resync_started(self, event: ResyncStarted) -> None:
        """Remember the calls in progress now: a call that starts during the resync is not
        in its answers, and must not be closed for that."""
        self._open_at_resync[event.site] = [c.linkedid for c in self._tracker.active()
                                            if in_site(c.linkedid, event.site)]

    def resynced(self, event: Resynced) -> None:
        """Only the resynced site's calls: another PBX's are not in its answers."""
        adopted = self.stats.adopted
        closed = self.reconcile(self._open_at_resync.pop(event.site, []), event.live_linkedids,
                                event.adoptable)
        log.info("resync: %d calls closed as ended while unseen, %d adopted", len(closed),
                 self.stats.adopted - adopted)

    def reconcile(self, open_before: Iterable[str], live: Iterable[str],
                  adopt: Iterable[Call] = ()) -> list[Call]:
        """After a (re)connect: close calls that ended while we could not see them.

        ``open_before`` are the calls in progress when the resync started, ``live``
        the linkedids Asterisk still has channels for; ``adopt`` are calls found live
        that we never saw start. Returns the calls closed.
        """
        live_set = set(live)
        closed = self._tracker.close_lost(lid for lid in open_before if lid not in live_set)
        for call in closed:
            self._mark(call)
        for call in adopt:
            if self._tracker.adopt(call):
                self.stats.adopted += 1
                self._mark(call)
            elif (refreshed := self._tracker.refresh(call)) is not None:
                self._mark(refreshed)
        self.stats.reconciled += len(closed)
        return closed


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"
