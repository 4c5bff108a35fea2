"""What the scrape-time metrics and the wallboard report about now, and how it is counted.

services/monitoring.py fills a ``LiveSnapshot`` from the running service; the Prometheus
binding (observability/prometheus.py) and the wallboard (services/wallboard.py) read it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from callcentre.domain.agents import Agent
from callcentre.domain.callback_figures import CallbackCounts
from callcentre.domain.calls import Call


@dataclass(frozen=True)
class LedgerReport:
    """Which record settles the published figures, and how reading it goes."""

    mode: str = "ami_only"  # or "queue_log"
    source: str = ""  # the queue_log file
    state: str = "off"  # reading, missing, unreadable, starting; off in AMI-only mode
    detail: str = ""
    lines: int = 0
    malformed: int = 0
    agreed: int = 0  # calls the call log had right
    corrected: int = 0  # calls it had wrong
    created: int = 0  # calls it never saw
    rotations: int = 0

    def warnings(self) -> list[str]:
        if self.mode == "queue_log" and self.state in ("missing", "unreadable"):
            return [f"queue_log {self.source} is {self.state} ({self.detail}): calls are "
                    "not being settled against Asterisk's own record"]
        return []


@dataclass(frozen=True)
class TaskHealth:
    """A supervised task (services/supervisor.py): restarts since start, whether it failed
    recently (``/healthz`` is degraded then), the last error and how long ago it was."""

    restarts: int = 0
    failing: bool = False
    last_error: str | None = None
    seconds_since_failure: float | None = None


@dataclass(frozen=True)
class LeaderReport:
    """Who consumes a PBX's events, dials its callbacks and reads its queue_log (/healthz)."""

    pbx: str
    instance: str  # this process
    role: str  # "sole" (one SQLite process), "leader", "taking over", "standby", "deposed"
    term: int | None = None  # the leader's term, as this instance last read it
    leader: str | None = None  # the leading instance's name, where known
    since: datetime | None = None  # this role since
    detail: str = ""


SHOWN = 25  # callbacks due now an agent page lists, and a leader's view of a PBX carries


@dataclass(frozen=True)
class LeaderLive:
    """The leader's live view of its PBX, for the pages a standby serves (the wallboard,
    agents' prompts): only the leader follows the PBX's events and dials."""

    waiting: Mapping[str, tuple[int, float]] = field(default_factory=dict)  # as LiveSnapshot
    agents: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    in_progress: int = 0
    ready: tuple[int, ...] = ()  # callbacks due now, waiting for an agent, soonest first
    available: tuple[str, ...] = ()  # agents free for a callback
    site: str = ""  # the PBX's prefix (domain/sites.py): "" the main one


def merged(views: Iterable[LeaderLive]) -> LeaderLive:
    """Several sites' views as one (each site's queues are named apart, domain/sites.py):
    what an instance shows when different instances lead different PBXs."""
    out = LeaderLive()
    for view in views:
        out = LeaderLive({**out.waiting, **view.waiting}, {**out.agents, **view.agents},
                         out.in_progress + view.in_progress, out.ready + view.ready,
                         out.available + view.available)
    return out


@dataclass(frozen=True)
class RuntimeReport:
    """The running process's own state: supervised tasks, HTTP connections, live streams."""

    tasks: Mapping[str, TaskHealth] = field(default_factory=dict)
    http_open: int = 0
    http_refused: int = 0
    http_closed: Mapping[str, int] = field(default_factory=dict)  # why -> connections
    live_subscribers: int = 0  # open live-page streams
    live_dropped: int = 0  # streams dropped for not reading
    leader: LeaderReport | None = None  # who leads the PBX: this instance or another
    pbxs: tuple[Mapping[str, Any], ...] = ()  # each PBX's link and leader (sites.py)


@dataclass(frozen=True)
class PromiseReport:
    """How callbacks were promised and blended with the queue, since the service started."""

    sized: int = 0  # deadlines sized to capacity (services/promises.py)
    fixed: int = 0  # deadlines by the policy's fixed rule
    held_for_queue: int = 0  # dispatch rounds held back for residents waiting too long
    held_for_place: int = 0  # offers held back: earlier callers still wait (the key's place)
    urgent_over_queue: int = 0  # callbacks dialled over the queue: near their deadline


@dataclass
class LiveSnapshot:
    """What the scrape-time metrics report; filled by a refresh function before a scrape."""

    ami_connected: bool = False
    reconnects: int = 0
    last_event_age: float | None = None
    events: Mapping[tuple[str, str], int] = field(default_factory=dict)
    parse_errors: Mapping[str, int] = field(default_factory=dict)
    handler_errors: int = 0
    write_failures: int = 0
    waiting: Mapping[str, tuple[int, float]] = field(default_factory=dict)  # queue -> (n, longest)
    in_progress: int = 0
    open: bool = False
    callbacks: CallbackCounts = field(default_factory=CallbackCounts)
    agents: Mapping[str, Mapping[str, int]] = field(default_factory=dict)  # queue -> state -> n
    callbacks_not_placed: int = 0  # callbacks whose last call the PBX did not place
    calls_not_placed: int = 0  # callback calls the PBX did not place, since start
    not_placed_reason: str | None = None  # the latest reason
    untimed: int = 0  # AMI events without a usable Timestamp
    calls_unsaved: int = 0  # changed in memory, not yet stored (back-pressure at a bound)
    calls_set_aside: int = 0  # calls that could not be stored at all (isolated, logged)
    unreadable_rows: Mapping[str, int] = field(default_factory=dict)  # table -> rows skipped
    reader_held: float = 0.0  # seconds the AMI reader waited for the call log, in all
    ledger: LedgerReport = field(default_factory=LedgerReport)
    runtime: RuntimeReport = field(default_factory=RuntimeReport)
    promises: PromiseReport = field(default_factory=PromiseReport)


def queue_waiting(active: Iterable[Call], now: datetime) -> dict[str, tuple[int, float]]:
    """Per queue: callers still waiting (joined, not answered, not left) and the longest wait."""
    out: dict[str, tuple[int, float]] = {}
    for call in active:
        if call.queued_at is None or call.answered_at or call.left_queue_at or not call.queue:
            continue
        count, longest = out.get(call.queue, (0, 0.0))
        out[call.queue] = (count + 1, max(longest, (now - call.queued_at).total_seconds()))
    return out


AGENT_STATES = ("available", "busy", "paused", "unavailable")
UNREACHABLE = (4, 5)  # QueueMember Status: AST_DEVICE_INVALID, AST_DEVICE_UNAVAILABLE


def agent_state(agent: Agent) -> str:
    if agent.paused:
        return "paused"
    if agent.available:
        return "available"
    if agent.status in UNREACHABLE or agent.device in ("UNAVAILABLE", "INVALID"):
        return "unavailable"
    return "busy"


def agent_states(agents: Iterable[Agent]) -> dict[str, dict[str, int]]:
    """Per queue: members available, busy (in a call, ringing, in use), paused, unreachable."""
    out: dict[str, dict[str, int]] = {}
    for agent in agents:
        state = agent_state(agent)
        for queue in agent.queues:
            counts = out.setdefault(queue, dict.fromkeys(AGENT_STATES, 0))
            counts[state] += 1
    return out


# Below this many inbound calls, none of which reached a queue, nothing is said (a caller
# may hang up in the welcome message); from here on, missing events are a missing right.
CALLS_BEFORE_QUEUE_WARNING = 3
# Read classes an inbound call of dialplans/ always raises events of (beside 'call'), and
# what the record loses without each (tests/integration/test_asterisk_harness.py measures it).
NEEDED_READ = {
    "agent": "queue events: every queue call looks as if it never reached a queue",
    "user": "the dialplan's UserEvents: case references and callback requests and results",
    "dialplan": "VarSet: queue results (timeouts) and callback results",
}
# Actions callcentre sends, and what fails when the account may not send one.
NEEDED_ACTIONS = {
    "Originate": "callbacks cannot be placed",
    "Setvar": "a waiting resident cannot be told the estimated wait or the promised time",
    "DBGet": "a callback's result cannot be read back after an outage",
    "CoreShowChannels": "calls cannot be resynced after an outage",
    "QueueStatus": "calls and agents cannot be resynced after an outage",
}


def link_warnings(events: Mapping[tuple[str, str], int], untimed: int,
                  classes: Mapping[str, int] | None = None,
                  refused: Iterable[str] = ()) -> list[str]:
    """What silently degrades the call record, said out loud (``/healthz``; the metrics
    and alert rules say the same): events without timestamps, read classes the account
    lacks (seen from the events of inbound calls), and actions it may not send."""
    out = []
    if untimed:
        out.append(f"{untimed} AMI events came without a Timestamp header (manager.conf "
                   "timestampevents = no?): their times are when callcentre read them")
    arrived = events.get(("Newchannel", "handled"), 0)
    if arrived >= CALLS_BEFORE_QUEUE_WARNING:
        seen = classes if classes is not None else {
            "agent": events.get(("QueueCallerJoin", "handled"), 0), "user": 1, "dialplan": 1}
        missing = [c for c in NEEDED_READ if not seen.get(c)]
        if missing:
            names = ", ".join(f"'{c}'" for c in missing)
            lost = "; ".join(NEEDED_READ[c] for c in missing)
            out.append(f"{arrived} calls arrived but no event of read class {names} was seen: "
                       f"the AMI account needs it (dialplans/manager.conf), or calls do not "
                       f"reach the dialplan: {lost}")
    out.extend(f"the AMI account may not send {action}: {NEEDED_ACTIONS.get(action, '')} "
               "(its write class is missing in manager.conf)" for action in refused)
    return out


def silence_warning(unqueued_since: datetime | None, now: datetime, is_open: bool,
                    quiet: timedelta) -> list[str]:
    """During opening hours, inbound calls have arrived for ``quiet`` and no queue event
    came meanwhile: queue events are not reaching callcentre (or no call reaches a queue)."""
    if not is_open or unqueued_since is None or now - unqueued_since < quiet:
        return []
    minutes = int((now - unqueued_since).total_seconds() // 60)
    return [f"inbound calls have arrived for {minutes} minutes during opening hours but no "
            "queue event came: the AMI account may lack the 'agent' read class, or calls do "
            "not reach a queue (queue_events_silence_minutes)"]


class SkipWatch:
    """Whether items were skipped after an error (AMI events a handler failed on, calls that
    could not be stored) within ``window`` seconds: ``/healthz`` is degraded meanwhile.
    Pure: the running total and the time come in."""

    def __init__(self, window: float = 300.0) -> None:
        self._window = window
        self._total = 0
        self._changed: float | None = None

    def warnings(self, total: int, now: float) -> list[str]:
        if total > self._total:
            self._changed = now
        self._total = total
        if self._changed is None or now - self._changed > self._window:
            return []
        return [f"{total} AMI events, calls or stored rows skipped after an error since start, "
                f"some in the "
                f"last {self._window / 60:g} minutes: each is counted and logged once a "
                "minute with its traceback"]
