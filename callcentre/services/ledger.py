"""The ledger: Asterisk's queue_log settles every queue call the call log recorded (or missed).

The tail (storage/queue_log_file.py) hands over whole lines and where reading stopped
(``take``); they are kept with the position in one transaction, so a restart resumes
exactly. A call is settled when queue_log has ended all its visits to queues and the call
log has finished it (``call_finished`` says when); one the call log never saw is created
from queue_log once its last line is ``grace`` old (``run``'s sweep). Settling is
domain/queue_log.py's ``reconcile``: what differed is stored with the call, counted, and
logged, and listeners hear (before, after) so the metrics can follow.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from callcentre.domain.calls import Call
from callcentre.domain.queue_log import QueueLogError, fold, parse_line, reconcile
from callcentre.errors import StorageError, UnreadableRecord
from callcentre.ports import Clock, LedgerPosition, LedgerRepository, Normaliser

log = logging.getLogger("callcentre.ledger")

SettledListener = Callable[[Call | None, Call], None]  # (the call log's record, settled)
_SWEEP_BATCH = 500
_LOG_EVERY = 60.0  # seconds between two log lines about malformed lines
STALE = timedelta(hours=12)  # lines that could not settle their call by then never will


@dataclass
class LedgerStats:
    lines: int = 0  # lines read (any kind)
    malformed: int = 0  # lines that are not queue_log lines, skipped
    agreed: int = 0
    corrected: int = 0
    created: int = 0  # calls the call log never saw
    differences: Counter[str] = field(default_factory=Counter)  # field -> calls
    settle_failures: int = 0
    given_up: int = 0  # calls whose lines could not settle them within STALE


class LedgerService:
    def __init__(self, repo: LedgerRepository, clock: Clock, numbers: Normaliser,
                 is_open: Callable[[datetime], bool], grace: timedelta = timedelta(seconds=30),
                 sweeps: Callable[[], bool] = lambda: True) -> None:
        """``sweeps``: whether this instance sweeps now (one instance does, for every PBX:
        the main PBX's leader); any leader settles the calls its call log finishes."""
        self._repo = repo
        self._sweeps = sweeps
        self._clock = clock
        self._numbers = numbers
        self._is_open = is_open
        self._grace = grace
        self._due: dict[str, None] = {}
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._listeners: list[SettledListener] = []
        self._logged_at = -_LOG_EVERY
        self.stats = LedgerStats()

    def on_settled(self, listener: SettledListener) -> None:
        self._listeners.append(listener)

    async def take(self, texts: Sequence[str], position: LedgerPosition) -> None:
        """Keep these whole lines of the file and the position after them; settle what ended."""
        lines = []
        for text in texts:
            self.stats.lines += 1
            try:
                line = parse_line(text)
            except QueueLogError as err:
                self._malformed(text, err)
                continue
            if line.about_a_call:
                lines.append(line)
        touched = await self._repo.append(lines, position, self._clock.now())
        for callid in touched:
            await self.settle(callid, create=False)

    def call_finished(self, call: Call) -> None:
        """The call log stored ``call`` as finished: settle it when queue_log has it."""
        self._due[call.linkedid] = None
        self._wake.set()

    async def run(self, sweep_every: float = 5.0) -> None:
        """Settle calls the call log finished, and sweep for ones it never saw (when
        ``sweeps``)."""
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(sweep_every):
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self.settle_due()
                if self._sweeps():
                    await self.sweep()
            except StorageError:
                self.stats.settle_failures += 1
                log.warning("could not settle calls against queue_log; trying again",
                            exc_info=True)

    async def settle_due(self) -> None:
        while self._due:
            callid = next(iter(self._due))
            await self.settle(callid, create=False)
            self._due.pop(callid, None)

    async def sweep(self) -> int:
        """Settle calls whose last queue_log line is older than the grace, creating the
        ones the call log has no record of; return how many were settled."""
        now = self._clock.now()
        callids = await self._repo.unsettled(now - self._grace, _SWEEP_BATCH)
        settled = 0
        for callid in callids:
            if await self.settle(callid, create=True) is not None:
                settled += 1
            elif await self._hopeless(callid, now):
                await self._repo.give_up(callid, now)
        return settled

    async def _hopeless(self, callid: str, now: datetime) -> bool:
        """Lines that can never settle a call, once old: no ENTERQUEUE (the file began
        mid-call), or a visit queue_log never ended (Asterisk stopped during it), or a
        call the call log keeps open. Left in, they would fill every sweep's batch."""
        lines = await self._repo.lines_of(callid)
        if lines and max(line.at for line in lines) > now - STALE:
            return False
        self.stats.given_up += 1
        log.info("call %s: queue_log's lines cannot settle it (%d lines, the last at %s); "
                 "left as the call log has it", callid, len(lines),
                 lines[-1].at.isoformat() if lines else "-")
        return True

    async def settle(self, callid: str, create: bool) -> Call | None:
        async with self._lock:
            ledger = fold(callid, await self._repo.lines_of(callid))
            if not ledger.complete:
                return None
            try:
                stored = await self._repo.call_of(callid)
            except UnreadableRecord:
                return None  # reported where it was read; left as it is stored
            if (stored is None and not create) or (stored is not None and not stored.finished):
                return None  # the call log may still record it / will say when it ends
            result = reconcile(stored, ledger)
            call = result.call
            if result.created:
                call = replace(call, caller=self._numbers(call.caller_raw),
                               out_of_hours=not self._is_open(call.arrived_at))
            verdict = _verdict(result.differences)
            if stored is not None and not result.differences and stored.ledger:
                verdict = stored.ledger  # settled again (new lines): keep what was corrected
            settled = await self._repo.settle(callid, call, verdict, self._clock.now())
        self._count(callid, result.differences, result.created)
        for listener in self._listeners:
            listener(stored, settled)
        return settled

    def _count(self, callid: str, differences: dict[str, tuple[str, str]],
               created: bool) -> None:
        if created:
            self.stats.created += 1
            log.info("call %s: not in the call log; recorded from queue_log", callid)
        elif differences:
            self.stats.corrected += 1
            self.stats.differences.update(differences.keys())
            log.info("call %s: corrected from queue_log (%s)", callid, _verdict(differences))
        else:
            self.stats.agreed += 1

    def _malformed(self, text: str, err: QueueLogError) -> None:
        self.stats.malformed += 1
        now = time.monotonic()
        if now - self._logged_at >= _LOG_EVERY:
            self._logged_at = now
            log.warning("skipped a line of queue_log that is not a queue_log line (%s): %r; "
                        "%d skipped so far", err, text[:80], self.stats.malformed)


def _verdict(differences: dict[str, tuple[str, str]]) -> str:
    if not differences:
        return "agrees"
    return "; ".join(f"{name}: {was} -> {now}" for name, (was, now) in differences.items())
