"""The composition root: builds every adapter and service, runs them, shuts them down.

Nothing else imports from everywhere. Start-up and shutdown go through one
AsyncExitStack, so whatever was opened is closed in reverse order, also on error.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aiohttp import web
from prometheus_client import CollectorRegistry, disable_created_metrics

from callcentre.config import Config
from callcentre.domain import callback_events as cev
from callcentre.domain import events as ev
from callcentre.domain.agents import AgentBoard
from callcentre.domain.callback_policy import CallbackPolicy
from callcentre.domain.calls import Call, CallTracker
from callcentre.domain.live import LeaderLive, LedgerReport, RuntimeReport
from callcentre.domain.resync import Resynced, ResyncStarted
from callcentre.domain.sites import in_site
from callcentre.domain.standards import Targets
from callcentre.domain.waits import WaitAnnounced, WaitAsked
from callcentre.observability.prometheus import CallMetrics, LiveCollector
from callcentre.phones import normaliser
from callcentre.ports import (
    CallbackFiguresSource,
    CallbackRepository,
    CallRepository,
    CaseRepository,
    Normaliser,
)
from callcentre.scheduling.due_loop import HeapScheduler
from callcentre.scheduling.policy import load_policy
from callcentre.services.bus import EventBus
from callcentre.services.callback_board import CallbackBoard
from callcentre.services.callback_dialler import CallbackDialler, DiallerSettings
from callcentre.services.callbacks import CallbackService
from callcentre.services.calllog import CallLogService
from callcentre.services.capacity import CapacityService
from callcentre.services.cases import CaseService
from callcentre.services.diallers import Diallers
from callcentre.services.ledger import LedgerService
from callcentre.services.monitoring import MonitoringService
from callcentre.services.promises import PromiseService, promise_report
from callcentre.services.relay import Relay, leader_view
from callcentre.services.retention import RetentionService
from callcentre.services.standards import StandardsService
from callcentre.services.supervisor import Supervisor
from callcentre.services.waits import wait_service
from callcentre.services.wrapup import WrapupService
from callcentre.sites import Site
from callcentre.storage.engines import leadership, repositories
from callcentre.storage.standards_repository import SqlStandardsRepository
from callcentre.web import api, pages
from callcentre.web.app import make_app
from callcentre.web.callbacks import CallbackWebDeps, ChangeFeed
from callcentre.web.callbacks_view import board_json
from callcentre.web.i18n import Languages
from callcentre.web.limits import ConnectionGuard, fd_budget, serve
from callcentre.web.live_feed import Board
from callcentre.web.signin import signin_deps
from callcentre.web.standards import StandardsDeps

log = logging.getLogger("callcentre")

TOKEN_DAYS = 90


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass(frozen=True)
class Callbacks:
    """The callback feature's parts (tests reach them as ``service.callbacks.<part>``)."""

    repo: CallbackRepository
    service: CallbackService
    diallers: Diallers  # one per PBX (site)
    board: CallbackBoard
    feed: ChangeFeed


class Service:
    """Everything the running process holds, wired together."""

    def __init__(self, config: Config, clock: SystemClock | None = None,
                 banner: str | None = None) -> None:
        self.config = config
        self.clock = clock or SystemClock()
        self.banner = banner
        self.stores = repositories(config.db, config.db_readers,  # SQLite or PostgreSQL
                                   config.instance_name, config.db_password_file)
        self.db, self.calls, self.cases, self.tokens = (
            self.stores.db, self.stores.calls, self.stores.cases, self.stores.tokens)
        policy = load_policy(config.policy_file)
        self.hours = policy.hours
        self.tracker = CallTracker(self.hours.is_open)
        self.calllog = CallLogService(self.tracker, self.calls, self.cases,
                                      timedelta(days=config.repeat_window_days),
                                      max_pending=config.call_log_max_pending)
        numbers = normaliser(config.default_region)
        self.case_service = CaseService(self.cases, self.calls, self.calllog, self.clock, numbers)
        self.wrapup = WrapupService(self.calls, self.calllog, config.wrapup_codes)
        self.retention = RetentionService(self.stores.retention, self.clock,
                                          policy.retention, numbers)
        self.bus = EventBus()
        self.supervisor = Supervisor()
        self._build_ledger(config, numbers)
        self._build_sites(config, numbers)
        # no *_created series: a fifth fewer lines to render per scrape
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = CollectorRegistry()
        self.metrics = CallMetrics(self.registry, config.service_level_thresholds,
                                   config.short_abandon_seconds)
        self.callbacks = _callbacks(config, policy.callbacks, self.stores.callbacks, self.cases,
                                    self.calls, self.clock, self.sites)
        self.connections = ConnectionGuard(config.http_max_connections, config.http_header_timeout,
                                           body_timeout=config.http_body_timeout)
        self._build_monitoring(config, self.stores.callback_figures)
        self._subscribe()

    def _build_monitoring(self, config: Config, figures: CallbackFiguresSource) -> None:
        """The standards, the capacity model, what /healthz, /metrics and alerts read, and
        what the instances sharing a database tell each other (services/relay.py)."""
        cb = self.callbacks
        def view(site: str) -> LeaderLive:  # what this instance shows the others of a PBX
            active = [c for c in self.calllog.tracker.active() if in_site(c.linkedid, site)]
            return leader_view(active, cb.diallers.at(site), self.clock.now())

        self.relay = Relay(self.stores.notices, cb.repo, cb.diallers.track, cb.diallers.rebuild,
                           cb.feed.bump, view, {s.names.prefix: s.lead.passes for s in self.sites})
        cb.board.remote = self.relay.remote
        self.figure_days = self.stores.standards
        self.standards = standards_service(config, self.figure_days, self.clock, figures)
        self.capacity = CapacityService(self.stores.capacity, self.clock, config.tz,
                                        self.standards.targets.service_level)
        self.monitoring = MonitoringService(
            self.link.report, self.db.ping, self.calllog, self.hours.is_open, cb.diallers.board.all,
            figures, timedelta(minutes=config.callback_at_risk_minutes), self.standards, config.tz,
            self.clock, cb.diallers.not_placed, self.ledger_report,
            runtime=self.runtime, quiet=timedelta(minutes=config.queue_events_silence_minutes),
            unreadable=lambda: self.db.unreadable.counts, remote=self.relay.remote)
        self.registry.register(LiveCollector(self.monitoring.snapshot))
        for dialler in cb.diallers:  # residents in the queue first
            blending = dialler.blending
            blending.waiting, blending.live_call = self.monitoring.waiting, self.calllog.tracker.get
        self.promises = PromiseService(self.capacity, cb.repo, cb.service.policy,  # per PBX
                                       self.standards.site_queues if self.sites[1:] else None)
        cb.service.promises = self.promises.due_for  # deadlines that can be kept
        self.monitoring.promising = lambda: promise_report(self.promises, cb.diallers)
        self.waits = wait_service({s.names.prefix: s.actions for s in self.sites}, self.clock,
                                  self.calllog, cb.diallers, self.capacity, cb.service,
                                  config.callback_offer_wait_seconds)

    def _build_sites(self, config: Config, numbers: Normaliser) -> None:
        """A link, resync, leadership and queue_log reader per PBX (sites.py); the main
        PBX's parts are also the service's own (``ami``, ``lead``, ...)."""
        deposed = asyncio.Event()  # any PBX's lead lost: the process stops (serve.py)
        self.sites = [Site(pbx, n == 0, config, self.clock, numbers, self.calllog,
                           self.supervisor, (self.ledger_lines.position, self.ledger.take))
                      for n, pbx in enumerate(config.pbxes)]
        for site in self.sites:
            site.publish = self.bus.publish
            site.lead_by(leadership(self.stores, site.pbx.name, config.leader_lease_seconds),
                         self._take_back, self._begin, deposed)
        main = self.sites[0]
        self.ami, self.link, self.resync, self.translator, self.lead, self.queue_log = (
            main.ami, main.link, main.resync, main.translator, main.lead, main.queue_log)

    def _build_ledger(self, config: Config, numbers: Normaliser) -> None:
        """Asterisk's queue_log settles every queue call, when the file can be read (each
        PBX's reader, sites.py, hands its lines here)."""
        self.ledger_lines = self.stores.ledger
        self.ledger = LedgerService(self.ledger_lines, self.clock, numbers,
                                    self.hours.is_open,
                                    timedelta(seconds=config.queue_log_grace_seconds),
                                    sweeps=lambda: self.lead.passes())  # noqa: PLW0108 (built later)

    @property
    def reads_queue_log(self) -> bool:
        return any(s.queue_log is not None for s in self.sites)

    def ledger_report(self) -> LedgerReport:
        if self.queue_log is None:
            return LedgerReport()
        s, t = self.ledger.stats, self.queue_log.stats
        return LedgerReport("queue_log", str(self.queue_log.path), t.state, t.detail, s.lines,
                            s.malformed, s.agreed, s.corrected, s.created, t.rotations)

    def _settled(self, before: Call | None, after: Call) -> None:
        self.metrics.call_settled(before, after)
        if before is None:  # a call only queue_log saw: it may be owed a callback too
            self.callbacks.service.on_call_finished(after)

    def _subscribe(self) -> None:
        """Who receives what: every domain event and the consumers that want it, in order.

        The AMI adapter (ami/translate.py, ami/resync.py) publishes on ``self.bus``;
        services tell their own listeners (finished calls, changed callbacks) below.
        """
        on, calls, metrics, waits = self.bus.subscribe, self.calllog, self.metrics, self.waits
        dialler = self.callbacks.diallers  # each PBX's: callbacks, and its agents' board
        # domain event              consumers, in order
        on(ev.CallArrived,          calls.handle)
        on(ev.CaseRefKeyed,         calls.handle)
        on(ev.QueueJoined,          metrics.queue_joined, calls.handle)
        on(ev.AgentAnswered,        calls.handle)
        on(ev.CallerAbandoned,      calls.handle)
        on(ev.QueueLeft,            calls.handle)
        on(ev.AgentCompleted,       calls.handle)
        on(ev.QueueResultSet,       calls.handle)
        on(ev.CallerHungUp,         calls.handle, dialler.caller_hung_up)
        on(ev.SurveyOffered,        calls.handle, self.callbacks.service.on_survey)
        on(ev.SurveyAnswered,       calls.handle, self.callbacks.service.on_survey)
        on(cev.MemberChanged,       dialler.handle)
        on(cev.MemberRemoved,       dialler.handle)
        on(cev.DeviceChanged,       dialler.handle)
        on(cev.CallbackRequested,   dialler.handle, waits.callback_requested)
        on(cev.PromiseTold,         dialler.handle)
        on(cev.AgentLegAnswered,    dialler.handle)
        on(cev.AgentLegFailed,      dialler.handle)
        on(cev.ResidentDialEnded,   dialler.handle)
        on(cev.ResidentConfirmed,   dialler.handle)
        on(cev.MachineDetection,    dialler.handle)
        on(cev.CallbackLegResult,   dialler.handle)
        on(WaitAsked,               waits.asked)
        on(WaitAnnounced,           metrics.wait_told, waits.announced)
        on(ResyncStarted,           calls.resync_started)
        on(Resynced,                calls.resynced, dialler.resynced)
        # listeners of services (the dialler follows callback changes itself)
        calls.on_finished(metrics.call_finished, self.callbacks.service.on_call_finished,
                          waits.call_finished)
        if self.reads_queue_log:  # else no call is ever settled: none is kept for it
            calls.on_finished(self.ledger.call_finished)
        waits.listen(metrics.offer_taken, metrics.wait_error, metrics.wait_learnt)
        self.ledger.on_settled(self._settled)
        self.retention.on_changed(self.metrics.anonymised)
        self.callbacks.service.on_change(self.callbacks.feed.bump)
        dialler.set_on_prompt(self.callbacks.feed.bump)

    def runtime(self) -> RuntimeReport:
        http, feed = self.connections.stats, self.callbacks.feed
        return RuntimeReport(self.supervisor.report(), http.open, http.refused, dict(http.closed),
                             feed.subscribers, feed.dropped, self.lead.report(),
                             tuple(site.health(self.callbacks.diallers.at(site.names.prefix))
                                   for site in self.sites))

    def _board(self) -> Board:
        return board_json(self.callbacks.board.prompts, self.config.tz)

    def web_app(self) -> web.Application:
        tz = self.config.tz
        cb = self.callbacks
        read = any(site.queue_log is not None for site in self.sites)
        ledger = self.ledger_lines if read else None
        return make_app(api.ApiDeps(self.calls, self.case_service, self.wrapup, tz, ledger),
                        pages.PageDeps(self.monitoring.health, self.calls, tz, self.banner),
                        self.tokens, self.registry,
                        # Languages: a ConfigError at start for a language with no catalogue
                        StandardsDeps(self.standards, self.monitoring.wallboard,
                                      self.config.council_name, self.capacity,
                                      Languages(self.config.languages)),
                        CallbackWebDeps(cb.service, self._board(), cb.feed, tz),
                        self.monitoring.snapshot.refresh, self.connections.middleware,
                        self.clock.now, frozenset(self.config.http_open_routes),
                        self.stores.audit,
                        signin_deps(self.config, self.clock.now))

    # --- lifecycle ------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Service]:
        async with contextlib.AsyncExitStack() as stack:
            await self.db.open()
            stack.push_async_callback(self.db.close)
            await self.db.migrate()
            await self._bound_token_expiry()
            await self._prepare_figures()
            for queue in await self.standards.queues():
                self.metrics.touch_queue(queue)
            stack.push_async_callback(self.supervisor.stop)  # whatever is left, last
            for site in self.sites:  # after the writers stopped
                stack.push_async_callback(site.lead.leadership.close)
            self.supervisor.start("calllog", self.calllog.run)
            if self.reads_queue_log:  # on every instance: any leader settles its calls
                self.supervisor.start("ledger", self.ledger.run)
            stack.push_async_callback(self._stop_calllog)
            stack.push_async_callback(self._stop_callbacks)
            for site in self.sites:  # SQLite: leads at once; else unless another instance does
                await site.lead.start()
            self._start_live_feed()
            await self._start_http(stack)
            for site in self.sites:
                self.supervisor.start(site.task("ami"), site.ami.run)
            stack.push_async_callback(self._stop_ami)
            stack.push_async_callback(self.monitoring.snapshot.close)
            self.metrics.touch_retention(self.retention.kinds)
            for site in self.sites:
                self.supervisor.start(site.task("leadership"), site.lead.run)
            yield self

    async def _take_back(self, site: Site) -> None:
        """Leading a PBX: its calls in progress the database holds (the last stop's, or a
        deposed leader's), and its callbacks' dialler; then events pass."""
        recovered = await self.calllog.recover(site.names.prefix)
        if recovered:
            log.info("took back %d calls of PBX %s that were in progress at the last stop",
                     recovered, site.pbx.name)
        if site.primary:
            await self.callbacks.service.adopt_orphans()
        dialler = self.callbacks.diallers.at(site.names.prefix)
        dialler.set_channel_prefix(f"callback-{await self.db.installation_id()}")
        self.supervisor.start(site.task("dialler"), dialler.run)  # prompts and dials

    def _begin(self, site: Site) -> None:
        """Leading a PBX, events passing: resync with its live state, read its queue_log;
        for the main PBX also the purge (and the ledger's sweep, LedgerService.sweeps)."""
        site.begin()
        if site.primary:
            self.supervisor.start("retention", self.retention.run)  # the daily purge

    async def _bound_token_expiry(self) -> None:
        """Tokens made before expiry existed last TOKEN_DAYS from the first start after."""
        bounded = await self.tokens.bound_expiry(self.clock.now() + timedelta(days=TOKEN_DAYS))
        if bounded:
            log.info("%d tokens made before expiry now expire in %d days", bounded, TOKEN_DAYS)

    async def _start_http(self, stack: contextlib.AsyncExitStack) -> None:
        c = self.config
        self.connections.max_connections = fd_budget(c.http_max_connections)
        if self.connections.max_connections < c.http_max_connections:
            log.warning("HTTP: at most %d connections (not %d): the file-descriptor limit "
                        "cannot hold more", self.connections.max_connections,
                        c.http_max_connections)
        runner = web.AppRunner(self.web_app(), access_log=None,
                               keepalive_timeout=c.http_idle_timeout,
                               shutdown_timeout=c.drain_seconds / 2,  # requests in progress
                               max_line_size=8190, max_field_size=8190)
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        server = await serve(self.connections, runner, c.http_host, c.http_port)
        stack.callback(server.close)  # first: stop accepting, then drain (above)
        log.info("HTTP on http://%s:%s/", c.http_host, c.http_port)

    def _start_live_feed(self) -> None:
        """Agents' live pages, and callback changes other instances made (services/relay.py)."""
        cb, board = self.callbacks, self._board()
        self.supervisor.start("live-feed", lambda: cb.feed.run(board))
        self.supervisor.start("relay", self.relay.run)

    async def _stop_callbacks(self) -> None:
        await self.supervisor.stop(*(site.task("dialler") for site in self.sites))
        await self.callbacks.service.drain()

    async def _stop_calllog(self) -> None:
        await self.supervisor.stop("calllog")
        await self.calllog.flush()

    async def _stop_ami(self) -> None:
        await self.waits.drain()  # answers being set on channels go out before the link closes
        for site in self.sites:
            await site.stop()

    async def _prepare_figures(self) -> None:
        """Day figures filed under the council's time zone: built from the calls at the
        first start after the upgrade that brought them, or after the zone changed."""
        started = time.monotonic()
        rebuilt = await self.figure_days.prepare(self.config.tz)
        if rebuilt is not None:
            log.info("standards: figures of every day built for %s in %.1f s (%d rows)",
                     self.config.timezone, time.monotonic() - started, rebuilt.rows)


def _callbacks(config: Config, policy: CallbackPolicy, repo: CallbackRepository,
               cases: CaseRepository, calls: CallRepository, clock: SystemClock,
               sites: list[Site]) -> Callbacks:
    service = CallbackService(repo, cases, calls, policy, clock, normaliser(config.default_region),
                              config.languages, tuple(site.pbx.name for site in sites))
    wait = config.callback_blend_wait_seconds or config.service_level_thresholds[0]  # <0: off
    settings = DiallerSettings(agent_ring_seconds=config.callback_agent_ring_seconds,
                               caller_id=config.callback_caller_id, languages=config.languages,
                               blend_wait_seconds=wait if wait >= 0 else None,
                               blend_margin=timedelta(minutes=config.callback_blend_margin_minutes))
    diallers = Diallers([CallbackDialler(service, repo, HeapScheduler(), AgentBoard(),
                                         site.actions, clock, settings, site.names)
                         for site in sites])
    return Callbacks(repo, service, diallers, CallbackBoard(repo, service, diallers, clock),
                     ChangeFeed(config.live_feed_queue, config.live_feed_write_timeout))


def standards_service(c: Config, repo: SqlStandardsRepository, clock: SystemClock,
                      callbacks: CallbackFiguresSource) -> StandardsService:
    thresholds = [int(t) for t in c.service_level_thresholds]
    targets = Targets(dict(zip(thresholds, c.service_level_targets, strict=True)),
                      c.abandon_rate_target, c.callback_kept_target)
    return StandardsService(repo, clock, c.tz, thresholds, int(c.short_abandon_seconds), targets,
                            callbacks=callbacks, sites=tuple(p.name for p in c.pbxes))
