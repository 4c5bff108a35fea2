"""The AMI link's settings, states and counters, and its report for health and metrics.

client.py owns the socket; these are the values it is configured with and reports.
``AmiLink`` turns them (and the translator's counters) into the ``LinkReport`` port
the monitoring service reads, so no service sees an AMI type.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from callcentre.ami.protocol import Message, ParserStats
from callcentre.ami.translate import Translator
from callcentre.config import Config, Pbx
from callcentre.ports import LinkReport


@dataclass(frozen=True)
class AmiSettings:
    """Where and how to reach Asterisk's manager interface (times in seconds)."""

    host: str
    port: int
    username: str
    secret: str
    connect_timeout: float = 5
    ping_interval: float = 10
    ping_timeout: float = 5
    action_timeout: float = 10
    reconnect_initial: float = 0.5
    reconnect_max: float = 30
    max_frame_bytes: int = 1 << 20

    @classmethod
    def from_config(cls, c: Config, pbx: Pbx | None = None) -> AmiSettings:
        """``pbx``'s login (the first PBX's if None), with the link settings all share."""
        p = pbx or c.pbxes[0]
        return cls(host=p.ami_host, port=p.ami_port, username=p.ami_username,
                   secret=p.ami_secret, ping_interval=c.ami_ping_interval,
                   ping_timeout=c.ami_ping_timeout, reconnect_max=c.ami_reconnect_max,
                   max_frame_bytes=c.ami_max_frame_bytes)

    def __post_init__(self) -> None:
        # A line break would inject AMI headers into the Login: refuse at start-up.
        if any(c in self.username + self.secret for c in "\r\n"):
            raise ValueError("AMI username/secret must not contain CR or LF")


class LinkState(enum.Enum):
    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    AUTH_FAILED = "auth_failed"


@dataclass(frozen=True)
class ActionResult:
    """The reply to one action.  ``events``: an event list's events, in order,
    **excluding** the terminating ``...Complete`` event, which is ``complete`` (it
    carries ``ListItems``).  Plain actions have no events and no ``complete``."""

    response: Message
    events: tuple[Message, ...] = ()
    complete: Message | None = None


@dataclass
class ClientStats:
    connects: int = 0
    disconnects: int = 0
    reconnect_attempts: int = 0
    auth_failures: int = 0
    events: int = 0
    handler_errors: int = 0
    ping_timeouts: int = 0
    pings_late: int = 0  # no Pong in time, but other frames came: busy, not dead
    holds: int = 0  # times the reader stopped for the consumer's backlog (client.Backlog)
    held_seconds: float = 0.0  # how long it stopped, in all
    last_frame_monotonic: float | None = None
    parser: ParserStats = field(default_factory=ParserStats)


class AmiLink:
    """Remembers the link's last state change; reports it with the client's counters."""

    def __init__(self, host: str, port: int, stats: Callable[[], ClientStats],
                 translator: Translator, since: datetime,
                 refused: Callable[[], tuple[str, ...]] = tuple) -> None:
        self._host, self._port = host, port
        self._refused = refused
        self._stats = stats
        self._translator = translator
        self.state, self.detail, self.since = LinkState.DISCONNECTED, "not connected yet", since

    def changed(self, state: LinkState, detail: str, at: datetime) -> None:
        self.state, self.detail, self.since = state, detail, at

    def report(self) -> LinkReport:
        client, tr = self._stats(), self._translator
        events = {(name, "handled"): n for name, n in tr.handled.items()}
        events.update({(name, "ignored"): n for name, n in tr.ignored.items()})
        return LinkReport(
            self.state.value, self.detail, self.since, self._host, self._port,
            reconnects=client.reconnect_attempts,
            last_frame_monotonic=client.last_frame_monotonic, events=events,
            parse_errors={"oversized_frame": client.parser.oversized_frames,
                          "malformed_line": client.parser.malformed_lines,
                          "malformed_event": tr.malformed},
            handler_errors=client.handler_errors, untimed=tr.untimed,
            held_seconds=client.held_seconds,
            classes=dict(tr.classes), refused_actions=self._refused(),
            unqueued_since=tr.unqueued_since)
