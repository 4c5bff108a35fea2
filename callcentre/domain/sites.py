"""Several PBXs (sites) in one call log: whose call is whose, and no two alike.

Two Asterisks number their channels independently, so two sites' ``Linkedid``s (and
queue names: every site may have a queue "council") can be equal. The first PBX a
council configures keeps its ids and queue names as they are, so an installation that
grows from one PBX to several keeps its history whole; every other site's are written
``<site>:<id>`` and ``<site>:<queue>``. ``:`` appears in neither an Asterisk uniqueid
(``[system-]epoch.sequence``) nor a site name, so the two can never meet.

The AMI adapter and queue_log reader of each site hand their events and lines through
``Namespace`` on the way in; what goes back to the PBX (actions) carries its own
channel names and needs none. A callback is dialled through its own site's PBX
(``Callback.site``, its name; "" the main one), by that site's dialler, whose channel ids
are its own (``local``).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

from callcentre.domain.calls import Call
from callcentre.domain.resync import Resynced, ResyncStarted

SEP = ":"
NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")


def valid_name(name: str) -> bool:
    """A site's name: lower-case letters, digits and '-', 1-32, starting with a letter or
    digit (it is part of ids, queue names and metric labels)."""
    return NAME.fullmatch(name) is not None


def in_site(call_id: str, prefix: str) -> bool:
    """Is ``call_id`` (as the call log keeps it) of the site whose prefix is ``prefix``
    ("": the first PBX)?"""
    return call_id.startswith(prefix) if prefix else SEP not in call_id


def site_of(call_id: str, primary: str) -> str:
    """The site a namespaced call id (or queue name) belongs to."""
    site, sep, _ = call_id.partition(SEP)
    return site if sep else primary


def prefix_in(call_id: str) -> str:
    """The prefix a namespaced call id (or queue name) carries: "" for the main PBX's."""
    return prefix_of(site_of(call_id, ""))


def pbx_id(call_id: str) -> str:
    """A namespaced id as its own PBX knows it (the main PBX's are unchanged)."""
    return call_id.removeprefix(prefix_in(call_id))


def prefix_of(site: str) -> str:
    """The prefix of a site's ids, as ``Callback.site`` names it ("": the main PBX)."""
    return site + SEP if site else ""


def callback_site(name: str, main: str) -> str:
    """``Callback.site`` of the site named ``name``: "" for the main PBX (``main``)."""
    return "" if name == main else name


@dataclass(frozen=True)
class Namespace:
    """One site's ids and queue names as the call log keeps them."""

    site: str
    primary: bool  # the first PBX: its ids and queues unchanged

    @property
    def prefix(self) -> str:
        return "" if self.primary else self.site + SEP

    def id(self, pbx_id: str) -> str:
        return self.prefix + pbx_id

    def local(self, call_id: str) -> str:
        """An id as the site's PBX knows it (a namespaced one with its prefix taken off)."""
        return call_id.removeprefix(self.prefix)

    @property
    def callback_site(self) -> str:
        """``Callback.site`` of this site's callbacks."""
        return "" if self.primary else self.site

    def event(self, event: Any) -> Any:
        """``event`` (a domain event from this site's PBX) with its ids and queue named."""
        if self.primary:
            return event
        if isinstance(event, Resynced):
            return self._resynced(event)
        if isinstance(event, ResyncStarted):
            return dataclasses.replace(event, site=self.prefix)
        return self._fields(event)

    def _fields(self, event: Any) -> Any:
        changes: dict[str, str] = {}
        for name in ("linkedid", "queue"):
            value = getattr(event, name, None)
            if isinstance(value, str):
                changes[name] = self.prefix + value
        if isinstance(getattr(event, "site", None), str):  # callback events
            changes["site"] = self.prefix
        return dataclasses.replace(event, **changes) if changes else event

    def call(self, call: Call) -> Call:
        return self._fields(call) if not self.primary else call

    def _resynced(self, event: Resynced) -> Resynced:
        return dataclasses.replace(
            event, site=self.prefix,
            live_linkedids=frozenset(self.id(i) for i in event.live_linkedids),
            channel_ids=frozenset(self.id(i) for i in event.channel_ids),
            adoptable=tuple(self.call(c) for c in event.adoptable),
            members=tuple(self._fields(m) for m in event.members))

    def queue_log_line(self, text: str) -> str:
        """A queue_log line (``epoch|callid|queue|agent|event|data...``) with its call id
        and queue named; a line it cannot split is passed on for the ledger to count."""
        if self.primary:
            return text
        parts = text.split("|", 3)
        if len(parts) < 4:
            return text
        epoch, callid, queue, rest = parts
        # NONE: queue_log's placeholder for "no call" and "no queue" (QUEUESTART, member lines)
        callid = callid if callid in ("", "NONE") else self.id(callid)
        queue = queue if queue in ("", "NONE") else self.prefix + queue
        return f"{epoch}|{callid}|{queue}|{rest}"
