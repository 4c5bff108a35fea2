"""The PBX: the AMI link's report, the calls placed through it, and which instance leads it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from callcentre.domain.callback_events import MemberChanged
from callcentre.domain.callback_policy import AnswerCheck
from callcentre.domain.live import LeaderLive, LeaderReport


@dataclass(frozen=True, slots=True)
class LinkReport:
    """The link to the PBX as its adapter sees it (health page, scrape-time metrics)."""

    state: str  # connected, connecting, disconnected, auth_failed
    detail: str
    since: datetime | None
    host: str
    port: int
    reconnects: int = 0
    last_frame_monotonic: float | None = None  # time.monotonic() of the last frame read
    events: Mapping[tuple[str, str], int] = field(default_factory=dict)  # (event, result) -> n
    parse_errors: Mapping[str, int] = field(default_factory=dict)  # kind -> n
    handler_errors: int = 0
    untimed: int = 0  # events without a usable Timestamp header
    classes: Mapping[str, int] = field(default_factory=dict)  # events by read class
    refused_actions: tuple[str, ...] = ()  # actions the account may not send (ListCommands)
    unqueued_since: datetime | None = None  # inbound calls since then, no queue event since
    held_seconds: float = 0.0  # the reader waited this long, in all, for the call log to write

    @property
    def connected(self) -> bool:
        return self.state == "connected"


@dataclass(frozen=True, slots=True)
class OriginateRequest:
    """An agent-first call: ring ``agent`` (a device), then the resident on answer."""

    channel_id: str  # becomes the agent leg's Uniqueid/Linkedid: events name it
    agent: str  # e.g. PJSIP/agent1
    phone: str  # E.164
    case_ref: str | None
    callback_id: int
    due_by: datetime
    agent_ring_seconds: int
    caller_id: str
    check: AnswerCheck = AnswerCheck.CONFIRM  # how the dialplan checks who answered
    language: str = ""  # the resident's (CHANNEL(language) of their leg); "" = the PBX's default


class Pbx(Protocol):
    async def originate(self, request: OriginateRequest) -> str:
        """Ask the PBX to place the call (asynchronously); return the request's ActionID.

        Raises PbxUnavailable when the PBX cannot be asked (link down, timeout) and
        PbxRefused when it refused the request; in neither case was anything dialled."""

    async def set_variable(self, channel: str, name: str, value: str) -> None:
        """Set a channel variable (e.g. the promised time). Raises PbxUnavailable/PbxRefused."""

    async def live_channels(self) -> set[str]:
        """Uniqueids and Linkedids of every channel up now. Raises PbxUnavailable."""

    async def queue_members(self) -> list[MemberChanged]:
        """Every queue member's state now (seeds the agent board). Raises PbxUnavailable."""

    async def stored_result(self, channel_id: str) -> tuple[str, float] | None:
        """What the dialplan stored for a finished callback leg: (DIALSTATUS, seconds the
        resident was connected), or None when it stored nothing. Raises PbxUnavailable."""


class Leadership(Protocol):
    """One instance at a time leads a PBX; the others stand by, serve the API and pages,
    and take over when the leader dies or falls silent. A deposed leader must neither
    write nor dial: ``leading()`` turns False by its own clock before another instance
    may take over, and the store refuses its writes (the term)."""

    def leading(self) -> bool:
        """True while this instance leads and its lease has not run out."""

    async def try_lead(self) -> bool:
        """One attempt to take the lead (waits at most a short poll): True when leading."""

    async def keep(self) -> None:
        """Keep the lead taken; returns when it is lost. The process must then stop:
        whatever it holds in memory is stale, and its writes are refused from now on."""

    def report(self) -> LeaderReport:
        """This instance's role, for /healthz."""

    async def close(self) -> None:
        """Give up the lead, if held, and close the connection kept for it."""


class Notices(Protocol):
    """What other instances sharing the database changed or see (several instances, #13)."""

    async def listen(self, changed: Callable[[int], Awaitable[None]],
                     missed: Callable[[], Awaitable[None]],
                     live: Callable[[LeaderLive], None]) -> None:
        """Until cancelled: ``changed(id)`` for each callback another instance changed;
        ``missed()`` whenever some may have been missed (the caller reloads); ``live(view)``
        for each live view the leader published."""

    async def publish(self, view: LeaderLive) -> None:
        """The leader's live view, to every other instance (within a second or so)."""
