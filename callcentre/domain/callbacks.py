"""Promised callbacks: the record, its attempts and history, and the state machine.

Every change is a pure function ``(callback, ..., at) -> callback`` that records itself
in ``history`` and raises IllegalTransition when the callback's state forbids it.
Results and the kept ratio are defined once here; the API, metrics and reports use them:

* ``kept``: the resident was reached by the deadline (with the default policy: they
  pressed 1 and were then connected to the agent); ``late``: reached after it;
* ``missed``: attempts exhausted or given up unreached (``first_attempt_in_time`` says
  whether the first attempt was made by the deadline); ``cancelled``.
* kept ratio = kept / (kept + late + missed); cancelled ones are left out.
* An agent may correct a closed result after the fact (callback_outcomes.correct_result);
  the history keeps who, when, old, new and why, and every figure follows the correction.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from callcentre.domain.callback_policy import CallbackPolicy, Source
from callcentre.errors import IllegalTransition, InvalidInput

MAX_REASON = 500


class Status(enum.StrEnum):
    PENDING = "pending"  # waiting for next_attempt_at (first call or a retry)
    DIALLING = "dialling"  # an attempt is in progress at the PBX
    NEEDS_OUTCOME = "needs_outcome"  # the PBX link was lost after the resident answered
    CLOSED = "closed"  # see ``result``


class Result(enum.StrEnum):
    KEPT = "kept"
    LATE = "late"
    MISSED = "missed"
    CANCELLED = "cancelled"


class AttemptOutcome(enum.StrEnum):
    REACHED = "reached"  # confirmed and connected (or, unconfirmed policies, talked min_talk)
    NOT_REACHED = "not_reached"  # connected, but too short to count (unconfirmed policies)
    UNCONFIRMED = "unconfirmed"  # answered, but nobody pressed 1 (voicemail, or not them)
    MACHINE = "answering_machine"  # Asterisk's AMD heard an answering machine
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    FAILED = "failed"  # congestion, unavailable, dialplan or PBX error
    AGENT_NO_ANSWER = "agent_no_answer"  # the agent's phone was not answered
    NOT_PLACED = "not_placed"  # the PBX could not be asked: not counted as an attempt
    LINK_LOST = "link_lost"  # the AMI link or the service went away; nothing was answered


class Told(enum.StrEnum):
    """How the resident was told a deadline moved."""

    NOT_TOLD = "not_told"
    PHONE = "phone"
    SMS = "sms"
    EMAIL = "email"
    LETTER = "letter"
    IN_PERSON = "in_person"


OPEN = frozenset({Status.PENDING, Status.DIALLING, Status.NEEDS_OUTCOME})
# What the history and the attempt say when the system decides these (an agent's note wins).
REASONS = {
    AttemptOutcome.UNCONFIRMED: "answered, but nobody pressed 1 to confirm",
    AttemptOutcome.MACHINE: "answering machine",
}
# Attempts that never rang the resident: not counted, retried soon (AGENT_RETRY later).
UNCOUNTED = frozenset({AttemptOutcome.NOT_PLACED, AttemptOutcome.AGENT_NO_ANSWER})
AGENT_RETRY = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class Attempt:
    number: int
    started_at: datetime
    channel_id: str  # ChannelId given to Originate: the agent leg's Uniqueid and Linkedid
    agent: str | None = None  # the agent's device (interface) rung
    ended_at: datetime | None = None
    outcome: AttemptOutcome | None = None
    answered_at: datetime | None = None  # the resident answered
    confirmed: bool = False  # the resident pressed the confirmation key
    amd: str | None = None  # answering machine detection: MACHINE, HUMAN, NOTSURE, HANGUP
    manual: bool = False  # recorded by an agent, not observed at the PBX
    note: str | None = None
    survey_offered: bool = False  # the post-call survey (domain/survey.py), as on a Call
    survey_resolved: bool | None = None
    survey_satisfaction: int | None = None

    @property
    def counted(self) -> bool:
        """Whether it counts against max_attempts: the resident's phone may have rung."""
        return self.outcome not in UNCOUNTED


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    at: datetime
    by: str
    action: str  # created, rescheduled, snoozed, accepted, attempt, outcome, cancelled, ...
    old: str | None = None
    new: str | None = None
    reason: str | None = None
    told: Told | None = None


@dataclass(frozen=True, slots=True)
class Callback:
    case_ref: str | None
    phone: str  # E.164
    reason: str
    source: Source
    promised_by: str
    not_before: datetime
    due_by: datetime
    created_at: datetime
    language: str = "en"
    owner: str | None = None  # a named agent (name or device), or None for the team
    status: Status = Status.PENDING
    result: Result | None = None
    next_attempt_at: datetime | None = None  # None once closed, dialling or needing an outcome
    attempts: tuple[Attempt, ...] = ()
    history: tuple[HistoryEntry, ...] = ()
    original_due_by: datetime | None = None
    extensions: int = 0  # times the deadline was moved later
    source_linkedid: str | None = None  # the call it came from (automatic sources)
    site: str = ""  # the PBX that dials it (domain/sites.py): "" the main one, else its name
    closed_at: datetime | None = None
    id: int | None = None
    version: int = 0  # optimistic concurrency: bumped by every save

    @property
    def open(self) -> bool:
        return self.status in OPEN

    @property
    def current(self) -> Attempt | None:
        last = self.attempts[-1] if self.attempts else None
        return last if last is not None and last.outcome is None else None

    @property
    def counted_attempts(self) -> int:
        return sum(1 for a in self.attempts if a.counted and a.outcome is not None)

    @property
    def first_attempt_in_time(self) -> bool | None:
        first = next((a for a in self.attempts if a.counted and a.outcome), None)
        return None if first is None else first.started_at <= self.due_by

    @property
    def reached_at(self) -> datetime | None:
        for a in self.attempts:
            if a.outcome is AttemptOutcome.REACHED:
                return a.answered_at or a.ended_at or a.started_at
        return None


def with_history(cb: Callback, at: datetime, by: str, action: str, *, old: str | None = None,
         new: str | None = None, reason: str | None = None, told: Told | None = None) -> Callback:
    entry = HistoryEntry(at, by, action, old, new, reason, told)
    return replace(cb, history=(*cb.history, entry))


def move_to_site(cb: Callback, site: str, at: datetime, reason: str) -> Callback:
    """Dialled through another PBX (``site``; "" the main one) from now on, as said."""
    return with_history(replace(cb, site=site), at, "system", "site", old=cb.site or None,
                        new=site or None, reason=reason)


def require_status(cb: Callback, *allowed: Status, doing: str) -> None:
    if cb.status not in allowed:
        state = cb.result.value if cb.result else cb.status.value
        raise IllegalTransition(f"cannot {doing} a callback that is {state}")


def clean_reason(reason: str | None, field: str = "reason") -> str:
    text = (reason or "").strip()
    if not text:
        raise InvalidInput(f"{field} must not be empty", field=field)
    if len(text) > MAX_REASON:
        raise InvalidInput(f"{field} must be at most {MAX_REASON} characters", field=field)
    return text


def check_deadline(due_by: datetime, at: datetime, policy: CallbackPolicy) -> None:
    """A deadline must be in the future and no later than the policy allows."""
    if due_by.tzinfo is None:
        raise InvalidInput("due_by must include a UTC offset", field="due_by")
    if due_by <= at:
        raise InvalidInput("due_by is in the past", field="due_by")
    latest = policy.latest_due(at)
    if due_by > latest:
        raise InvalidInput(f"due_by is beyond policy ({policy.latest.text}: at the latest "
                           f"{latest.isoformat()})", field="due_by")


def new_callback(cb: Callback, policy: CallbackPolicy) -> Callback:
    """A promise as made: deadline checked, first attempt scheduled in calling hours."""
    at = cb.created_at
    check_deadline(cb.due_by, at, policy)
    if cb.not_before >= cb.due_by:
        raise InvalidInput("not_before must be before due_by", field="not_before")
    first = policy.callable_from(max(at, cb.not_before))
    made = replace(cb, reason=clean_reason(cb.reason), status=Status.PENDING,
                   next_attempt_at=first, original_due_by=cb.due_by)
    return with_history(made, at, cb.promised_by, "created", new=cb.due_by.isoformat())


def start_attempt(cb: Callback, agent: str | None, channel_id: str, at: datetime) -> Callback:
    require_status(cb, Status.PENDING, doing="dial")
    attempt = Attempt(len(cb.attempts) + 1, at, channel_id, agent)
    cb = replace(cb, status=Status.DIALLING, next_attempt_at=None,
                 attempts=(*cb.attempts, attempt))
    return with_history(cb, at, "system", "attempt", new=str(attempt.number), reason=agent)


def _with_current(cb: Callback, **changes: object) -> Callback:
    current = cb.current
    if current is None:
        return cb
    updated = replace(current, **changes)  # type: ignore[arg-type]
    return replace(cb, attempts=(*cb.attempts[:-1], updated))


def resident_answered(cb: Callback, at: datetime) -> Callback:
    current = cb.current
    if current is None or current.answered_at is not None:
        return cb
    return _with_current(cb, answered_at=at)


def resident_confirmed(cb: Callback) -> Callback:
    return _with_current(cb, confirmed=True)


def machine_detected(cb: Callback, status: str) -> Callback:
    """What AMD said of whoever answered the attempt in progress (AMDSTATUS)."""
    return _with_current(cb, amd=status)


def finish_attempt(cb: Callback, outcome: AttemptOutcome, at: datetime, policy: CallbackPolicy,
                   by: str = "system", note: str | None = None) -> Callback:
    """Close the attempt in progress with ``outcome`` and decide what happens next."""
    require_status(cb, Status.DIALLING, Status.NEEDS_OUTCOME, doing="finish an attempt of")
    note = note or REASONS.get(outcome)
    cb = _with_current(cb, ended_at=at, outcome=outcome, note=note, manual=by != "system")
    cb = with_history(cb, at, by, "outcome", new=outcome.value, reason=note)
    return after_attempt(cb, outcome, at, policy)


def after_attempt(cb: Callback, outcome: AttemptOutcome, at: datetime,
                  policy: CallbackPolicy) -> Callback:
    if outcome is AttemptOutcome.REACHED:
        reached = cb.reached_at or at
        return _close(cb, Result.KEPT if reached <= cb.due_by else Result.LATE, at, "system")
    if outcome is AttemptOutcome.NOT_PLACED:
        return _refused(cb, at, policy)
    if outcome in UNCOUNTED:
        return _retry(cb, policy.callable_from(at + AGENT_RETRY), at, policy)
    failed = failed_attempts(cb, policy)
    if failed >= policy.max_attempts:
        return _close(cb, Result.MISSED, at, "system", "attempts exhausted")
    return _retry(cb, policy.retry_at(failed, at), at, policy)


def failed_attempts(cb: Callback, policy: CallbackPolicy) -> int:
    """Finished attempts that count against ``max_attempts`` (refused calls only if the
    policy says so)."""
    refused = sum(1 for a in cb.attempts if a.outcome is AttemptOutcome.NOT_PLACED)
    return cb.counted_attempts + (refused if policy.refused_counts else 0)


def refusals_in_a_row(cb: Callback) -> int:
    """How many of the latest attempts in a row the PBX refused (or could not be asked)."""
    n = 0
    for attempt in reversed(cb.attempts):
        if attempt.outcome is not AttemptOutcome.NOT_PLACED:
            break
        n += 1
    return n


def _refused(cb: Callback, at: datetime, policy: CallbackPolicy) -> Callback:
    """Back off (capped, exponential, jittered): a PBX whose trunk is down must not be
    asked five times a second, and neither must the agents' phones ring that often."""
    if policy.refused_counts and failed_attempts(cb, policy) >= policy.max_attempts:
        return _close(cb, Result.MISSED, at, "system", "attempts exhausted (calls not placed)")
    wait = policy.refused_retry_after(refusals_in_a_row(cb), cb.id or 0)
    return _retry(cb, policy.callable_from(at + wait), at, policy)


def _retry(cb: Callback, retry: datetime, at: datetime, policy: CallbackPolicy) -> Callback:
    if retry > policy.give_up_at(cb.due_by):
        return _close(cb, Result.MISSED, at, "system", "gave up after the deadline")
    return replace(cb, status=Status.PENDING, next_attempt_at=retry)


def link_lost(cb: Callback, at: datetime, policy: CallbackPolicy) -> Callback:
    """The attempt's outcome could not be observed. If the resident had answered, an agent
    must say what happened (never guess, never silently drop); otherwise retry per policy."""
    current = cb.current
    if current is not None and current.answered_at is not None:
        cb = with_history(cb, at, "system", "needs_outcome",
                          reason="link lost after the resident answered")
        return replace(cb, status=Status.NEEDS_OUTCOME, next_attempt_at=None)
    return finish_attempt(cb, AttemptOutcome.LINK_LOST, at, policy)


def record_outcome(cb: Callback, outcome: AttemptOutcome, by: str, at: datetime,
                   policy: CallbackPolicy, note: str | None = None) -> Callback:
    """An agent says how a call went (one they made themselves, or one the link lost)."""
    if outcome is AttemptOutcome.NOT_PLACED:
        raise InvalidInput("outcome not_placed is only recorded by the system", field="outcome")
    if cb.status is Status.PENDING:
        manual = Attempt(len(cb.attempts) + 1, at, f"manual-{len(cb.attempts) + 1}", by,
                         answered_at=at if outcome is AttemptOutcome.REACHED else None)
        cb = replace(cb, status=Status.DIALLING, attempts=(*cb.attempts, manual))
    elif outcome is AttemptOutcome.REACHED and cb.current and cb.current.answered_at is None:
        cb = _with_current(cb, answered_at=at)
    return finish_attempt(cb, outcome, at, policy, by=by, note=note)


def _close(cb: Callback, result: Result, at: datetime, by: str,
           reason: str | None = None) -> Callback:
    cb = replace(cb, status=Status.CLOSED, result=result, next_attempt_at=None, closed_at=at)
    return with_history(cb, at, by, "closed", new=result.value, reason=reason)


def reschedule(cb: Callback, due_by: datetime, reason: str, told: Told, by: str, at: datetime,
               policy: CallbackPolicy) -> Callback:
    """Move the deadline. Needs a reason; records who, when, old, new and how the resident
    was told; a later deadline counts as an extended promise."""
    require_status(cb, Status.PENDING, Status.DIALLING, Status.NEEDS_OUTCOME, doing="reschedule")
    check_deadline(due_by, at, policy)
    text = clean_reason(reason)
    old = cb.due_by
    cb = replace(cb, due_by=due_by, extensions=cb.extensions + (due_by > old))
    return with_history(cb, at, by, "rescheduled", old=old.isoformat(), new=due_by.isoformat(),
                reason=text, told=told)


def snooze(cb: Callback, until: datetime, by: str, at: datetime,
           policy: CallbackPolicy) -> Callback:
    """Not now: the next attempt waits until ``until`` (the deadline does not move)."""
    require_status(cb, Status.PENDING, doing="snooze")
    if until <= at:
        raise InvalidInput("until must be in the future", field="until")
    nxt = policy.callable_from(until)
    old = cb.next_attempt_at
    cb = replace(cb, next_attempt_at=nxt)
    return with_history(cb, at, by, "snoozed", old=old.isoformat() if old else None,
                        new=nxt.isoformat())


def accept(cb: Callback, agent: str, at: datetime) -> Callback:
    """An agent takes the callback: it becomes theirs and is offered to them now."""
    require_status(cb, Status.PENDING, doing="accept")
    old = cb.owner
    cb = replace(cb, owner=agent, next_attempt_at=min(cb.next_attempt_at or at, at))
    return with_history(cb, at, agent, "accepted", old=old, new=agent)


def cancel(cb: Callback, reason: str, by: str, at: datetime) -> Callback:
    require_status(cb, Status.PENDING, Status.NEEDS_OUTCOME, doing="cancel")
    return _close(cb, Result.CANCELLED, at, by, clean_reason(reason))


def expire(cb: Callback, at: datetime) -> Callback:
    require_status(cb, Status.PENDING, doing="expire")
    return _close(cb, Result.MISSED, at, "system", "gave up after the deadline")
