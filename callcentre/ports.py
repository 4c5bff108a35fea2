"""Ports: what the services need from the outside world, as Protocols.

Implemented by storage/ (repositories), scheduling/due_loop.py (CallbackScheduler), ami/pbx.py
(Pbx) and testing/ (fakes of all); tests/contract runs one suite against fakes and engines.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Generic, Protocol, TypeVar

from callcentre.domain.callback_events import MemberChanged
from callcentre.domain.callback_figures import CallbackCounts, CallbackPeriod
from callcentre.domain.callback_policy import AnswerCheck
from callcentre.domain.callbacks import Callback, Status
from callcentre.domain.calls import Call, CaseLink, Outcome
from callcentre.domain.capacity import HalfHour
from callcentre.domain.cases import Case, CaseStatus
from callcentre.domain.paging import Keyset
from callcentre.domain.people import AuditEntry, Person, Session, Token
from callcentre.domain.queue_log import QueueLogLine
from callcentre.domain.retention import Changed, Kind
from callcentre.domain.standards import Figures
from callcentre.domain.survey import SurveyByAgent

T = TypeVar("T")
Normaliser = Callable[[str | None], str | None]  # raw number -> E.164, or None (see phones.py)


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware (UTC)."""


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: Keyset | None  # pass back as ``cursor`` for the next page; None on the last


@dataclass(frozen=True, slots=True)
class CallQuery:
    since: datetime | None = None  # arrived at or after
    until: datetime | None = None  # arrived before
    queue: str | None = None
    outcome: Outcome | None = None
    case_ref: str | None = None
    limit: int = 50
    cursor: Keyset | None = None  # only calls after it: (arrived_at, id) below its key


@dataclass(frozen=True, slots=True)
class RepeatQuery:
    """Is the call ``exclude_linkedid`` a repeat?  Asks for the latest other call from
    ``caller`` that arrived in [since, before), as ``CallRepository.previous_from``."""

    caller: str
    since: datetime
    before: datetime
    exclude_linkedid: str


class CallRepository(Protocol):
    async def save(self, calls: Sequence[Call]) -> list[Call]:
        """Insert or update by linkedid, in one transaction; return the calls with ``id`` set.

        A call already stored as finished is never changed: the stored version is
        returned instead. Raises StorageError when the database fails (nothing is saved)."""

    async def get(self, call_id: int) -> Call:
        """Raises NoSuchCall."""

    async def find(self, query: CallQuery) -> Page[Call]:
        """Newest first by (arrived_at, id), filtered; ``limit`` items at most. Each page
        costs the same however deep it is: the next page starts below ``next_cursor``."""

    async def unfinished(self) -> list[Call]:
        """Calls stored without an outcome (in progress when the service last stopped)."""

    async def previous_from(self, caller: str, since: datetime, before: datetime,
                            exclude_linkedid: str) -> int | None:
        """Id of the latest other call from ``caller`` that arrived in [since, before)."""

    async def previous_from_each(self, queries: Sequence[RepeatQuery]) -> list[int | None]:
        """``previous_from`` for every query, read together; the answers in query order."""

    async def link_case(self, call_id: int, case_ref: str | None, link: CaseLink | None) -> Call:
        """Set (or clear) the call's case link. Raises NoSuchCall."""

    async def set_wrapup(self, call_id: int, code: str | None) -> Call:
        """Set (or clear) the wrap-up code; ``save`` never changes it. Raises NoSuchCall."""


@dataclass(frozen=True, slots=True)
class LedgerPosition:
    """Where reading a queue_log file stopped: the file (device, inode) and the byte offset."""

    path: str
    device: int
    inode: int
    offset: int


@dataclass(frozen=True, slots=True)
class LedgerCounts:
    calls: int = 0  # calls queue_log has lines for
    settled: int = 0  # of which held against the call log
    agreed: int = 0  # of which the call log had right
    corrected: int = 0  # of which the call log had wrong (or had no record of)
    unsettled: int = 0  # calls with lines not yet held against the call log


class LedgerRepository(Protocol):
    """queue_log lines about calls, where reading stopped, and what settling found."""

    async def position(self, path: str) -> LedgerPosition | None:
        """Where reading ``path`` stopped, or None if it was never read."""

    async def append(self, lines: Sequence[QueueLogLine], position: LedgerPosition,
                     at: datetime) -> list[str]:
        """Keep the lines and the new position in one transaction (identical lines are
        each kept: a resident can rejoin a queue within the second); return the callids
        they are about, which become unsettled."""

    async def lines_of(self, callid: str) -> list[QueueLogLine]:
        """The lines about ``callid``, in the order they were read."""

    async def unsettled(self, last_line_before: datetime, limit: int) -> list[str]:
        """Callids with lines not yet settled whose last line is older than given, oldest first."""

    async def call_of(self, callid: str) -> Call | None:
        """The call log's record of the call (its Linkedid is the callid), if any."""

    async def settle(self, callid: str, call: Call, verdict: str, at: datetime) -> Call:
        """Store ``call`` as settled (created if none; replaced even if finished, keeping an
        agent's case link and wrap-up code), with ``verdict``; mark ``callid`` settled."""

    async def give_up(self, callid: str, at: datetime) -> None:
        """Stop trying to settle ``callid`` (until a new line about it arrives)."""

    async def counts(self) -> LedgerCounts:
        """How many calls were settled, agreed and corrected."""


class CaseRepository(Protocol):
    async def add(self, case: Case) -> Case:
        """Raises CaseExists when the reference is taken."""

    async def get(self, ref: str) -> Case:
        """Raises NoSuchCase."""

    async def find(self, status: CaseStatus | None, phone: str | None, limit: int,
                   cursor: str | None) -> tuple[list[Case], str | None]:
        """Ordered by reference; returns the page and the next cursor (a ref) or None."""

    async def latest_open_for(self, phone: str) -> Case | None:
        """The most recently created open case of this resident, if any."""

    async def latest_open_for_each(self, phones: Collection[str]) -> dict[str, Case]:
        """``latest_open_for`` every number, read together; numbers without one left out."""

    async def get_each(self, refs: Collection[str]) -> dict[str, Case]:
        """The cases with these references, by reference, read together; unknown ones left out."""

    async def set_status(self, ref: str, status: CaseStatus, at: datetime) -> Case:
        """Raises NoSuchCase."""


class AuditRepository(Protocol):
    """Append-only: entries are added, never changed or removed."""

    async def append(self, entry: AuditEntry) -> None: ...

    async def between(self, start: datetime, end: datetime) -> list[AuditEntry]:
        """Entries with ``start <= at < end``, oldest first."""


class TokenRepository(Protocol):
    async def add(self, token_hash: str, token: Token) -> Token:
        """Store a token of ``token.name`` (added with role and interface when new), ``id`` set.
        Raises Conflict when that person has another role or interface, or it is another's."""

    async def find(self, token_hash: str) -> Token | None:
        """The token with this hash, revoked and expired ones included (the caller decides)."""

    async def add_person(self, person: Person, at: datetime) -> Person:
        """Let someone use callcentre (with no token yet: they may sign in through the
        identity provider). Raises Conflict when the name or the interface is taken."""

    async def person(self, name: str) -> Person | None:
        """The person with this name (letter case aside, as e-mail), if an admin added them."""

    async def people(self) -> list[Person]:
        """Everyone, by name."""

    async def all(self) -> list[Token]:
        """Every token, newest first."""

    async def revoke(self, token_id: int, at: datetime) -> Token:
        """Mark a token revoked (once; revoking again keeps the first time). Raises NotFound."""

    async def start_session(self, session_hash: str, session: Session) -> None:
        """Store a browser session of ``session.token`` (which must have an id)."""

    async def session(self, session_hash: str) -> Session | None:
        """The session with this hash (ended, expired: the caller decides), its token as now."""

    async def end_session(self, session_hash: str, at: datetime) -> None:
        """Sign-out: the session ends (once; ending it again changes nothing)."""

    async def bound_expiry(self, until: datetime) -> int:
        """Give every token without an expiry (made before expiry existed) this one: how many."""


class StandardsRepository(Protocol):
    """Figures of finished calls per council-local day and queue, kept up to date as calls
    are stored: a period costs its days, not the history."""

    async def figures(self, first_day: date, end_day: date, queue: str | None) -> Figures:
        """Finished calls arrived on local days [first_day, end_day) of ``queue`` (None: all)."""

    async def survey(self, first_day: date, end_day: date, queue: str | None) -> SurveyByAgent:
        """The same calls' post-call survey, by agent (name, else interface; "" for none)."""

    async def queues(self) -> list[str]: ...


class CapacityHistory(Protocol):
    """History of [start, end) per UTC half-hour, oldest first (``queue`` None: all queues;
    empty half-hours left out). Raises StorageError."""

    async def half_hours(self, start: datetime, end: datetime,
                         queue: str | None) -> list[HalfHour]:
        """Finished calls by arrival (all queues: with callback attempts by start)."""
    async def agents(self, start: datetime, end: datetime, queue: str | None) -> list[HalfHour]:
        """``agents``: how many different agents answered the calls that arrived then."""


class CallbackFiguresSource(Protocol):
    """Callback figures for the standards report and the scrape-time metrics."""

    async def period(self, start: datetime, end: datetime) -> CallbackPeriod: ...

    async def counts(self, now: datetime, at_risk_margin: timedelta) -> CallbackCounts:
        """Totals and open callbacks now. Raises StorageError."""


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
class CallbackQuery:
    status: Status | None = None
    owner: str | None = None
    due_from: datetime | None = None  # due_by at or after
    due_until: datetime | None = None  # due_by before
    case_ref: str | None = None
    phone: str | None = None
    limit: int = 50
    soonest_first: bool = False  # by deadline (due_by, then id): latest first unless this
    cursor: Keyset | None = None  # only callbacks after it in that order


@dataclass(frozen=True, slots=True)
class DueEntry:
    """What the scheduler needs to know of one open callback."""

    id: int
    next_attempt_at: datetime
    due_by: datetime


class CallbackRepository(Protocol):
    async def add(self, callback: Callback) -> Callback:
        """Store a new callback; return it with ``id`` set and ``version`` 1.

        Raises DuplicateCallback when one with the same ``source_linkedid`` exists, and
        StorageError when the database fails (nothing is stored)."""

    async def update(self, callback: Callback) -> Callback:
        """Store a changed callback, if the stored one still has ``callback.version``;
        return it with ``version`` + 1. Raises NoSuchCallback, StaleCallback (changed
        meanwhile: nothing is stored) or StorageError. Durable when it returns."""

    async def get(self, callback_id: int) -> Callback:
        """Raises NoSuchCallback."""

    async def find(self, query: CallbackQuery) -> Page[Callback]:
        """Filtered, by deadline (latest first, or soonest with ``soonest_first``)."""

    async def open_for_phone(self, phone: str) -> list[Callback]:
        """Open callbacks (pending, dialling or needing an outcome) for this number."""

    async def due_before(self, until: datetime) -> list[DueEntry]:
        """Pending callbacks whose next attempt is before ``until``, earliest first."""

    async def with_status(self, *statuses: Status) -> list[Callback]:
        """Every callback in one of ``statuses``, by deadline (e.g. dialling ones at start)."""


DueHandler = Callable[[list[DueEntry]], None]


class CallbackScheduler(Protocol):
    """Holds the due moments of the next ``horizon`` and calls the handler when they come.

    The repository is the source of truth: the scheduler is rebuilt from it with
    ``replace_all`` at start-up (and periodically), and told of every change with
    ``set``/``discard``; losing it loses nothing.
    """

    def replace_all(self, entries: Sequence[DueEntry]) -> None:
        """Forget everything held and hold ``entries`` instead."""

    def set(self, entry: DueEntry) -> None:
        """Hold (or move) one callback's due moment."""

    def discard(self, callback_id: int) -> None:
        """Forget a callback (closed, dialling or beyond the horizon); no error if unknown."""

    def pop_due(self, now: datetime) -> list[DueEntry]:
        """Remove and return the entries due at ``now``, earliest deadline first."""

    def next_at(self) -> datetime | None:
        """The earliest due moment held, or None when nothing is held."""


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


@dataclass(frozen=True, slots=True)
class RetentionRun:
    started_at: datetime
    finished_at: datetime
    changed: Changed
    trigger: str  # "purge" (the daily task) or "erase" (a resident's request)


class RetentionRepository(Protocol):
    """Residents' personal data across every table: anonymised when its period is over or
    on request, and exported on request. Anonymising keeps every column a published figure
    is computed from (domain/retention.py); a record once anonymised is never counted again.
    Raises StorageError when the database fails."""

    async def anonymise(self, kind: Kind, before: datetime, limit: int) -> int:
        """Anonymise at most ``limit`` records of ``kind`` older than ``before`` that still
        hold personal data (finished calls by arrival, closed callbacks and cases by when
        they closed or last changed, queue_log lines by their time), in one short write;
        return how many changed (fewer than ``limit``: none are left)."""

    async def export(self, number: str) -> dict[str, list[dict[str, Any]]]:
        """Every record about the E.164 ``number``: calls, cases, callbacks (with attempts
        and history) and queue_log lines, by table name; plain JSON values."""

    async def erase(self, number: str) -> Changed:
        """Anonymise every record about the E.164 ``number`` (the purge's rule), in one
        write; return how many of each kind changed."""

    async def record_run(self, run: RetentionRun) -> None:
        """Keep what a purge or an erasure did (the retention_runs table)."""

    async def last_run(self) -> RetentionRun | None:
        """The latest run recorded, or None."""
