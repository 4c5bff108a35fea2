"""The running service's own state, for people and Prometheus: health, the live snapshot
behind the scrape-time metrics, and the wallboard's data.

It reads the PBX link through the ``LinkReport`` port (ami/link.py makes it), the call
log's tracker and counters, and the callback figures; it owns nothing but a cache.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from callcentre.domain.agents import Agent
from callcentre.domain.callback_figures import CallbackCounts
from callcentre.domain.live import (
    LeaderLive,
    LeaderReport,
    LedgerReport,
    LiveSnapshot,
    PromiseReport,
    RuntimeReport,
    SkipWatch,
    TaskHealth,
    agent_states,
    link_warnings,
    queue_waiting,
    silence_warning,
)
from callcentre.errors import StorageError
from callcentre.ports import CallbackFiguresSource, Clock, LinkReport
from callcentre.services.calllog import CallLogService
from callcentre.services.standards import StandardsService
from callcentre.services.wallboard import wallboard

log = logging.getLogger("callcentre.metrics")


class MonitoringService:
    def __init__(self, link: Callable[[], LinkReport], db_ping: Callable[[], Awaitable[None]],
                 calllog: CallLogService, is_open: Callable[[datetime], bool],
                 agents: Callable[[], Iterable[Agent]], figures: CallbackFiguresSource,
                 at_risk: timedelta, standards: StandardsService, tz: ZoneInfo,
                 clock: Clock, not_placed: Callable[[], tuple[int, int, str | None]],
                 ledger: Callable[[], LedgerReport] = LedgerReport,
                 monotonic: Callable[[], float] = time.monotonic,
                 runtime: Callable[[], RuntimeReport] = RuntimeReport,
                 quiet: timedelta = timedelta(minutes=15),
                 unreadable: Callable[[], Mapping[str, int]] = dict,
                 remote: Callable[[], LeaderLive | None] = lambda: None) -> None:
        self._link = link
        self._db_ping = db_ping
        self._calllog = calllog
        self._is_open = is_open
        self._agents = agents
        self._figures = figures
        self._at_risk = at_risk
        self._standards = standards
        self._tz = tz
        self._clock = clock
        self._monotonic = monotonic
        self._not_placed = not_placed  # the dialler's (callbacks, calls, latest reason)
        self._ledger = ledger
        self._quiet = quiet  # queue_events_silence_minutes
        self._runtime = runtime  # supervised tasks, HTTP connections (app.py)
        self._unreadable = unreadable  # stored rows skipped, by table (storage/db.py)
        self._remote = remote  # on a standby: the leader's live view (services/relay.py)
        # promises and blending (set by the composition root once both exist)
        self.promising: Callable[[], PromiseReport] = PromiseReport
        self.snapshot = SnapshotCache(self.live, self.callback_counts)
        self._skips = SkipWatch()

    async def health(self) -> dict[str, Any]:
        """``/healthz``: down only when the database is; degraded without the PBX, with
        callbacks not placed, a link warning or a task that failed recently."""
        db_ok, db_detail = True, "ok"
        try:
            await self._db_ping()
        except StorageError as err:
            db_ok, db_detail = False, str(err)
        link = self._link()
        refused, _, reason = self._not_placed()
        now = self._clock.now()
        warnings = link_warnings(link.events, link.untimed, link.classes, link.refused_actions)
        warnings += silence_warning(link.unqueued_since, now, self._is_open(now), self._quiet)
        skipped = (link.handler_errors + self._calllog.stats.set_aside
                   + sum(self._unreadable().values()))
        warnings += self._skips.warnings(skipped, self._monotonic())
        ledger = self._ledger()
        runtime = self._runtime()
        tasks = runtime.tasks
        failing = any(t.failing for t in tasks.values())
        others_down = [p["pbx"] for p in runtime.pbxs if p.get("ami") != "connected"]
        healthy = (link.connected and not refused and not warnings and not ledger.warnings()
                   and not failing and not others_down)
        status = "down" if not db_ok else ("ok" if healthy else "degraded")
        last = link.last_frame_monotonic
        age = None if not last else round(self._monotonic() - last, 1)
        return {
            "status": status,
            "ami": {"state": link.state, "detail": link.detail,
                    "since": link.since.isoformat() if link.since else None,
                    "host": link.host, "port": link.port, "last_frame_age_seconds": age,
                    "warnings": warnings},
            "db": {"ok": db_ok, "detail": db_detail},
            "calls_in_progress": len(self._calllog.tracker.active()),
            "calls_unsaved": self._calllog.pending,
            "callbacks": {"not_placed": refused, "latest_reason": reason},
            "ledger": {"mode": ledger.mode, "source": ledger.source or None,
                       "state": ledger.state, "detail": ledger.detail,
                       "calls": {"agreed": ledger.agreed, "corrected": ledger.corrected,
                                 "created": ledger.created},
                       "lines_skipped": ledger.malformed, "warnings": ledger.warnings()},
            "tasks": {name: _task_json(t) for name, t in tasks.items()},
            "leadership": _leader_json(runtime.leader),
            "pbxs": list(runtime.pbxs),  # every site (sites.py), the main PBX first
        }

    def waiting(self) -> dict[str, tuple[int, float]]:
        """Per queue: residents waiting now and the longest wait (s): the wallboard's tiles
        and the dialler's blending read the same."""
        return queue_waiting(self._calllog.tracker.active(), self._clock.now())

    def live(self, callbacks: CallbackCounts | None = None) -> LiveSnapshot:
        link, now = self._link(), self._clock.now()
        active = self._calllog.tracker.active()
        remote = self._remote()
        refused, calls, reason = self._not_placed()
        last = link.last_frame_monotonic
        return LiveSnapshot(
            ami_connected=link.connected,
            reconnects=link.reconnects,
            last_event_age=None if last is None else max(0.0, self._monotonic() - last),
            events=link.events,
            parse_errors=link.parse_errors,
            handler_errors=link.handler_errors,
            write_failures=self._calllog.stats.write_failures,
            waiting=queue_waiting(active, now) if remote is None else remote.waiting,
            in_progress=len(active) if remote is None else remote.in_progress,
            open=self._is_open(now),
            callbacks=callbacks or CallbackCounts(),
            agents=agent_states(self._agents()) if remote is None else remote.agents,
            callbacks_not_placed=refused, calls_not_placed=calls, not_placed_reason=reason,
            untimed=link.untimed,
            calls_unsaved=self._calllog.pending, reader_held=link.held_seconds,
            calls_set_aside=self._calllog.stats.set_aside,
            unreadable_rows=dict(self._unreadable()),
            ledger=self._ledger(),
            runtime=self._runtime(),
            promises=self.promising(),
        )

    async def callback_counts(self) -> CallbackCounts:
        return await self._figures.counts(self._clock.now(), self._at_risk)

    async def wallboard(self) -> dict[str, Any]:
        await self.snapshot.refresh()
        return await wallboard(self.snapshot.current, self._standards, self._clock.now(),
                               self._tz)


def _task_json(t: TaskHealth) -> dict[str, Any]:
    age = t.seconds_since_failure
    return {"restarts": t.restarts, "failing": t.failing, "last_error": t.last_error,
            "seconds_since_failure": None if age is None else round(age, 1)}


class SnapshotCache:
    """Holds the snapshot scrape-time metrics report, refreshed on the event loop.

    The exposition is rendered in a worker thread (see web/app.py); the service's
    state may only be read on the loop, so the handler refreshes this first. Callback
    counts come from the database, at most once per ``ttl`` seconds however often
    Prometheus, the wallboard and people scrape; after the first, a scrape never waits
    for them: stale counts are served while a background task fetches new ones.
    """

    def __init__(self, build: Callable[[CallbackCounts], LiveSnapshot],
                 callbacks: Callable[[], Awaitable[CallbackCounts]] | None = None,
                 ttl: float = 2.0, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._build = build
        self._callbacks = callbacks
        self._ttl = ttl
        self._monotonic = monotonic
        self._counts = CallbackCounts()
        self._counted_at: float | None = None
        self._fetching: asyncio.Task[None] | None = None
        self.current = LiveSnapshot()

    async def refresh(self) -> None:
        now = self._monotonic()
        if self._callbacks is not None:
            if self._counted_at is None:
                await self._fetch(now)
            elif now - self._counted_at >= self._ttl and (
                    self._fetching is None or self._fetching.done()):
                self._fetching = asyncio.get_running_loop().create_task(self._fetch(now))
        self.current = self._build(self._counts)

    async def _fetch(self, now: float) -> None:
        assert self._callbacks is not None
        try:
            self._counts = await self._callbacks()
            self._counted_at = now
        except StorageError:
            log.warning("could not count callbacks for /metrics; keeping the last counts")

    async def close(self) -> None:
        if self._fetching is not None:
            self._fetching.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._fetching

    def __call__(self) -> LiveSnapshot:
        return self.current


def _leader_json(leader: LeaderReport | None) -> dict[str, Any] | None:
    """Which instance leads the PBX: this one (leader, sole) or another (standby)."""
    if leader is None:
        return None
    return {"pbx": leader.pbx, "instance": leader.instance, "role": leader.role,
            "term": leader.term, "leader": leader.leader,
            "since": leader.since.isoformat() if leader.since else None,
            "detail": leader.detail or None}
