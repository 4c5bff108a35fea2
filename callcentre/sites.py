"""The composition root's part for each PBX (site): app.py builds one ``Site`` per entry
of ``Config.pbxes`` and wires it to the services all sites share.

A site owns what is its PBX's alone: the AMI link and its translator (channel state),
the resync after each (re)connect, the leadership (one leader per PBX among instances
sharing a database) and the reader of its queue_log. What it hears reaches the shared
bus through ``Namespace`` (domain/sites.py), so every site's calls and queues are named
apart in the one call log.

Every site's events go to the one bus: its calls to the call log, its agents and
callback legs to its own dialler (services/diallers.py), its residents' wait questions to
the wait service, which answers through the site's PBX (``actions``). The first PBX is
the council's main one: its ids and queues keep their names, and the ledger's sweep and
the retention purge run on its leader.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from callcentre.ami.client import AmiClient, AmiSettings, Backlog, LinkState
from callcentre.ami.link import AmiLink
from callcentre.ami.pbx import AmiPbx
from callcentre.ami.resync import AmiEvents, Resync
from callcentre.ami.translate import Translator
from callcentre.config import Config, Pbx
from callcentre.domain.sites import Namespace
from callcentre.ports import Clock, Leadership, LedgerPosition, Normaliser
from callcentre.services.callback_dialler import CallbackDialler
from callcentre.services.calllog import CallLogService
from callcentre.services.lead import Lead
from callcentre.services.supervisor import Supervisor
from callcentre.storage.queue_log_file import QueueLogTail

log = logging.getLogger("callcentre")

Sink = Callable[[Sequence[str], LedgerPosition], Awaitable[None]]


class Site:
    """One PBX's link, resync, leadership and queue_log reader."""

    def __init__(self, pbx: Pbx, primary: bool, config: Config, clock: Clock,
                 numbers: Normaliser, calllog: CallLogService, supervisor: Supervisor,
                 ledger: tuple[Callable[[str], Awaitable[LedgerPosition | None]], Sink]) -> None:
        self.pbx, self.names, self._clock = pbx, Namespace(pbx.name, primary), clock
        self._supervisor = supervisor
        self.publish: Callable[[object], None] = lambda event: None  # the bus (app.py)
        self.translator = Translator(config.inbound_contexts, numbers, clock)
        ami_events = AmiEvents(self.translator, self._publish)
        self.ami = AmiClient(AmiSettings.from_config(config, pbx), ami_events,
                             on_state=self._on_state,
                             backlog=Backlog(calllog.full, calllog.drained))
        self.link = AmiLink(pbx.ami_host, pbx.ami_port, lambda: self.ami.stats,
                            self.translator, clock.now(), lambda: self.resync.refused_actions)
        self.resync = Resync(self.ami.send_action, self.translator,
                             frozenset(config.inbound_contexts), clock, self._publish,
                             ami_events.booted)
        position, take = ledger
        path = pbx.queue_log_path
        self.queue_log = QueueLogTail(path, position, self._lines(take)) if path else None
        self.lead: Lead  # set by lead_by()
        self.actions: AmiPbx  # likewise

    @property
    def primary(self) -> bool:
        return self.names.primary

    def task(self, name: str) -> str:
        """A supervised task's name: the main PBX's as before, another's with its site."""
        return name if self.primary else f"{name}@{self.pbx.name}"

    def lead_by(self, leadership: Leadership, take_back: Callable[[Site], Awaitable[None]],
                begin: Callable[[Site], None], deposed: asyncio.Event) -> None:
        async def taken() -> None:
            await take_back(self)

        self.lead = Lead(leadership, self.pbx.name, taken, lambda: begin(self), deposed)
        # what the services ask of this PBX (dial, set a channel's variable): while leading
        self.actions = AmiPbx(self.lead.guard(self.ami.send_action))

    def _lines(self, take: Sink) -> Sink:
        if self.primary:
            return take

        async def named(texts: Sequence[str], position: LedgerPosition) -> None:
            await take([self.names.queue_log_line(t) for t in texts], position)
        return named

    def _publish(self, event: object) -> None:
        """A standby keeps its login (and the translator's channel state) warm and passes
        nothing on (services/lead.py)."""
        if not self.lead.passes():
            return
        self.publish(self.names.event(event))

    def _on_state(self, state: LinkState, detail: str) -> None:
        self.link.changed(state, detail, self._clock.now())
        if state is LinkState.CONNECTED:
            log.info("connected to Asterisk AMI of PBX %s at %s:%s", self.pbx.name,
                     self.pbx.ami_host, self.pbx.ami_port)
            if self.lead.consuming:  # a standby's resync comes when it takes the lead
                self._supervisor.start(self.task("resync"), self.resync.run)
        elif state is LinkState.AUTH_FAILED:
            log.error("Asterisk of PBX %s refused our AMI login (%s); check its username and "
                      "secret", self.pbx.name, detail)
        else:
            self.resync.link_lost()  # the client says once per outage that the link is gone

    def begin(self) -> None:
        """Leading, events passing: resync with the PBX's live state, read its queue_log."""
        if self.link.report().connected:
            self._supervisor.start(self.task("resync"), self.resync.run)
        if self.queue_log is None:
            log.info("ledger of PBX %s: AMI only (no queue_log file to settle calls against)",
                     self.pbx.name)
            return
        log.info("ledger of PBX %s: calls are settled against Asterisk's queue_log at %s",
                 self.pbx.name, self.queue_log.path)
        self._supervisor.start(self.task("queue-log"), self.queue_log.run)

    async def stop(self) -> None:
        await self.ami.close()
        await self._supervisor.stop(self.task("ami"), self.task("resync"))

    def health(self, dialler: CallbackDialler) -> dict[str, Any]:
        """What /healthz says of this site (``dialler``: its callbacks')."""
        link, leader = self.link.report(), self.lead.report()
        return {"pbx": self.pbx.name, "main": self.primary, "ami": link.state,
                "host": link.host, "port": link.port, "role": leader.role,
                "instance": leader.leader, "term": leader.term,
                "queue_log": str(self.queue_log.path) if self.queue_log else None,
                "queue_log_state": self.queue_log.stats.state if self.queue_log else None,
                "agents": len(dialler.board.all()), "callbacks_due": len(dialler.ready)}
