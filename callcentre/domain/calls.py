"""The call record and the pure state machine that builds it from events.

One ``Call`` per inbound contact, keyed by Asterisk's Linkedid. Events are folded
in through a table of small functions (``_APPLY``); a finished call is never
reopened or changed by a late or duplicated event.
"""

from __future__ import annotations

import enum
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from callcentre.domain import events as ev
from callcentre.domain import survey


class Outcome(enum.StrEnum):
    """How a contact ended. The same names are used in the API, metrics and reports."""

    ANSWERED = "answered"  # an agent answered while the caller was queued
    ABANDONED = "abandoned"  # the caller hung up while queued
    TIMEOUT = "timeout"  # the queue's maximum wait ran out
    EXIT_WITH_KEY = "exit_with_key"  # the resident pressed a key to leave (e.g. for a callback)
    EXIT_EMPTY = "exit_empty"  # the queue let the resident go: no agent left to answer
    LEFT_QUEUE = "left_queue"  # left the queue without an agent for another reason
    HUNG_UP_BEFORE_QUEUE = "hung_up_before_queue"  # never reached a queue
    UNKNOWN = "unknown"  # ended while the link to Asterisk was down, last facts kept


class EndSource(enum.StrEnum):
    HANGUP = "hangup"  # we saw the caller's channel hang up
    RECONCILED = "reconciled"  # closed on resync: the channel was gone when we looked
    LEDGER = "ledger"  # closed from Asterisk's queue_log: the call log never saw the hangup


class CaseLink(enum.StrEnum):
    KEYED = "keyed"  # CASE_REF from the resident's keypad entry or a SIP header
    NUMBER = "number"  # the caller's most recent open case, matched by number
    AGENT = "agent"  # linked or re-linked by an agent through the API


@dataclass(frozen=True, slots=True)
class Call:
    linkedid: str
    channel: str
    arrived_at: datetime
    caller: str | None = None
    caller_raw: str | None = None
    caller_name: str | None = None
    dialled: str | None = None
    out_of_hours: bool = False
    queue: str | None = None
    queued_at: datetime | None = None
    join_position: int | None = None
    answered_at: datetime | None = None
    agent_interface: str | None = None
    agent_name: str | None = None
    left_queue_at: datetime | None = None
    abandoned: bool = False
    abandon_position: int | None = None
    queue_status: str | None = None
    talk_ended_at: datetime | None = None
    ended_at: datetime | None = None
    hangup_cause: int | None = None
    outcome: Outcome | None = None
    end_source: EndSource | None = None
    keyed_case_ref: str | None = None
    case_ref: str | None = None
    case_link: CaseLink | None = None
    repeat_of: int | None = None
    last_event_at: datetime | None = None
    ledger: str | None = None  # held against queue_log: None not yet, "agrees", or what differed
    survey_offered: bool = False  # the resident reached the post-call survey
    survey_resolved: bool | None = None  # None: not answered (a skip)
    survey_satisfaction: int | None = None  # 1-5; None: not answered
    wrapup_code: str | None = None  # the agent's, set through the API only (never folded)
    # CHANNEL(language) of the resident's channel: at arrival, then as it joined a queue
    # (after the dialplan's language menu; tests/fixtures/ami/language.ami)
    language: str | None = None
    id: int | None = None

    @property
    def finished(self) -> bool:
        return self.outcome is not None

    @property
    def wait_seconds(self) -> float | None:
        """Seconds in queue: until an agent answered, or until the caller left the queue."""
        if self.queued_at is None:
            return None
        end = self.answered_at or self.left_queue_at
        if end is None and self.finished:
            end = self.ended_at
        return None if end is None else max(0.0, (end - self.queued_at).total_seconds())

    @property
    def talk_seconds(self) -> float | None:
        if self.answered_at is None:
            return None
        end = self.talk_ended_at or self.ended_at
        return None if end is None else max(0.0, (end - self.answered_at).total_seconds())


def decide_outcome(call: Call) -> Outcome:
    """The outcome the facts support, whichever way the call ended."""
    if call.answered_at is not None:
        return Outcome.ANSWERED
    # Queue() sets QUEUESTATUS only when it lets a resident go who is still on the line
    # (TIMEOUT, LEAVEEMPTY ...); a resident who hangs up while queued leaves it unset.
    # app_queue raises QueueCallerAbandon on those paths too (record_abandoned() for a
    # timeout or an empty queue), so the status decides before the abandon flag does.
    # FULL and JOINEMPTY never queued the resident.
    if call.queue_status and (call.queued_at is not None or call.abandoned):
        return _STATUS_OUTCOMES.get(call.queue_status, Outcome.LEFT_QUEUE)
    if call.abandoned:
        return Outcome.ABANDONED
    if call.queued_at is None:
        return Outcome.HUNG_UP_BEFORE_QUEUE
    if call.left_queue_at is None:
        # Still queued when we last knew, and we never saw it end.
        return Outcome.UNKNOWN if call.end_source is EndSource.RECONCILED else Outcome.ABANDONED
    # Left the queue alive with no status and no abandon: only a key does that (app_queue
    # logs EXITWITHKEY and sets no QUEUESTATUS; tests/fixtures/ami/exit_with_key.ami).
    # Seen only in part (closed on resync), it stays the plainer "left the queue".
    return Outcome.EXIT_WITH_KEY if call.end_source is EndSource.HANGUP else Outcome.LEFT_QUEUE


_STATUS_OUTCOMES = {"TIMEOUT": Outcome.TIMEOUT, "LEAVEEMPTY": Outcome.EXIT_EMPTY}


def new_call(linkedid: str, at: datetime, details: ev.CallerDetails, out_of_hours: bool) -> Call:
    return Call(
        linkedid=linkedid,
        channel=details.channel,
        arrived_at=at,
        caller=details.caller,
        caller_raw=details.caller_raw,
        caller_name=details.caller_name,
        dialled=details.dialled,
        out_of_hours=out_of_hours,
        keyed_case_ref=details.case_ref,
        language=details.language,
        last_event_at=at,
    )


def with_enrichment(call: Call, stored: Call) -> Call:
    """``call`` with the fields only storage and enrichment set, taken from ``stored``."""
    return replace(call, id=stored.id, case_ref=stored.case_ref, case_link=stored.case_link,
                   repeat_of=stored.repeat_of, wrapup_code=stored.wrapup_code)


def _arrived(call: Call, e: ev.CallArrived) -> Call:
    return call  # a repeated Newchannel for a known call adds nothing


def _case_ref(call: Call, e: ev.CaseRefKeyed) -> Call:
    return replace(call, keyed_case_ref=e.case_ref)


def _joined(call: Call, e: ev.QueueJoined) -> Call:
    if call.queued_at is not None and call.left_queue_at is not None \
            and call.answered_at is None and e.at > call.left_queue_at:
        # Another visit (a second queue, or back after a key): the last visit decides how
        # the call left, and the wait runs on from the first join, as the resident lived it.
        return replace(call, left_queue_at=None, abandoned=False, abandon_position=None,
                       queue_status=None, language=e.details.language or call.language)
    if call.queued_at is not None:
        return call  # a duplicate join: the first is the one measured
    keyed = call.keyed_case_ref or e.details.case_ref
    return replace(call, queue=e.queue, queued_at=e.at, join_position=e.position,
                   keyed_case_ref=keyed, language=e.details.language or call.language)


def _answered(call: Call, e: ev.AgentAnswered) -> Call:
    if call.answered_at is not None:
        return call
    return replace(call, queue=call.queue or e.queue, answered_at=e.at,
                   agent_interface=e.interface, agent_name=e.agent_name)


def _abandoned(call: Call, e: ev.CallerAbandoned) -> Call:
    if call.answered_at is not None:
        return call
    return replace(call, abandoned=True, abandon_position=e.position,
                   left_queue_at=call.left_queue_at or e.at)


def _left(call: Call, e: ev.QueueLeft) -> Call:
    if call.left_queue_at is not None:
        return call
    return replace(call, left_queue_at=e.at)


def _completed(call: Call, e: ev.AgentCompleted) -> Call:
    return replace(call, talk_ended_at=call.talk_ended_at or e.at)


def _queue_result(call: Call, e: ev.QueueResultSet) -> Call:
    return replace(call, queue_status=e.status)


def _hung_up(call: Call, e: ev.CallerHungUp) -> Call:
    ended = replace(call, ended_at=e.at, hangup_cause=e.cause, end_source=EndSource.HANGUP)
    return replace(ended, outcome=decide_outcome(ended))


def _survey_offered(call: Call, e: ev.SurveyOffered) -> Call:
    return replace(call, survey_offered=True)


def _survey_answered(call: Call, e: ev.SurveyAnswered) -> Call:
    # An answer is only sent from inside the survey: it is offered even if that event was lost.
    if e.question == survey.RESOLVED:
        return replace(call, survey_offered=True, survey_resolved=survey.resolved_answer(e.key))
    if e.question == survey.SATISFACTION:
        return replace(call, survey_offered=True,
                       survey_satisfaction=survey.satisfaction_answer(e.key))
    return call  # a question the service does not measure


_APPLY: dict[type[object], Callable[[Call, ev.CallEvent], Call]] = {
    ev.CallArrived: _arrived,  # type: ignore[dict-item]
    ev.CaseRefKeyed: _case_ref,  # type: ignore[dict-item]
    ev.QueueJoined: _joined,  # type: ignore[dict-item]
    ev.AgentAnswered: _answered,  # type: ignore[dict-item]
    ev.CallerAbandoned: _abandoned,  # type: ignore[dict-item]
    ev.QueueLeft: _left,  # type: ignore[dict-item]
    ev.AgentCompleted: _completed,  # type: ignore[dict-item]
    ev.QueueResultSet: _queue_result,  # type: ignore[dict-item]
    ev.CallerHungUp: _hung_up,  # type: ignore[dict-item]
    ev.SurveyOffered: _survey_offered,  # type: ignore[dict-item]
    ev.SurveyAnswered: _survey_answered,  # type: ignore[dict-item]
}


@dataclass
class TrackerStats:
    applied: int = 0
    late_ignored: int = 0  # events for a call that had already finished
    unrelated: int = 0  # events for contacts that are not inbound calls (e.g. callbacks)


class CallTracker:
    """Folds call events into the calls in progress. Pure: no I/O, no clock.

    ``is_open`` tells whether the council was open at a given moment (out-of-hours
    flag). Finished calls are handed back once and then forgotten, but their
    linkedids are remembered (bounded) so late events are recognised and dropped.
    """

    def __init__(self, is_open: Callable[[datetime], bool], remember_finished: int = 100_000):
        self._is_open = is_open
        self._active: dict[str, Call] = {}
        self._finished: OrderedDict[str, None] = OrderedDict()
        self._remember = remember_finished
        self.stats = TrackerStats()

    def apply(self, event: ev.CallEvent) -> Call | None:
        """Apply one event; return the call as changed, or None when the event was ignored."""
        linkedid = event.linkedid
        call = self._active.get(linkedid)
        created = call is None
        if call is None:
            call = self._start(event)
            if call is None:
                return None
        updated = _APPLY[type(event)](call, event)
        if updated is call and not created:
            return None
        if updated.last_event_at is None or event.at > updated.last_event_at:
            updated = replace(updated, last_event_at=event.at)
        self.stats.applied += 1
        self._store(updated)
        return updated

    def _start(self, event: ev.CallEvent) -> Call | None:
        if event.linkedid in self._finished:
            self.stats.late_ignored += 1
            return None
        if isinstance(event, ev.CallArrived | ev.QueueJoined):
            return new_call(event.linkedid, event.at, event.details, not self._is_open(event.at))
        self.stats.unrelated += 1
        return None

    def _store(self, call: Call) -> None:
        if call.finished:
            self._active.pop(call.linkedid, None)
            self.forget(call.linkedid)
        else:
            self._active[call.linkedid] = call

    def forget(self, linkedid: str) -> None:
        """Remember that a call is finished (so late events for it are dropped)."""
        self._finished[linkedid] = None
        self._finished.move_to_end(linkedid)
        while len(self._finished) > self._remember:
            self._finished.popitem(last=False)

    def enrich(self, stored: Call) -> Call | None:
        """Copy what storage added (id, case link, repeat) onto the call in progress.

        Only those fields: the call in memory may have moved on while it was saved.
        """
        call = self._active.get(stored.linkedid)
        if call is None:
            return None
        call = with_enrichment(call, stored)
        self._active[call.linkedid] = call
        return call

    def settle_finished(self, linkedid: str) -> None:
        """Storage says this call is finished: stop tracking it (e.g. a zombie after restart)."""
        self._active.pop(linkedid, None)
        self.forget(linkedid)

    def adopt(self, call: Call) -> bool:
        """Track a call found live on resync that we never saw start; False if known."""
        if call.linkedid in self._active or call.linkedid in self._finished:
            return False
        self._active[call.linkedid] = call
        return True

    def refresh(self, live: Call) -> Call | None:
        """A tracked call as a resync found it live: fill in what we missed while we could
        not see (killed before it was stored, or the link was down when it came): the
        queue join (``live.queued_at``: Asterisk's whole-second ``Wait``), or the answer
        (``live.answered_at``: when the agent's phone began to ring). Without the answer a
        caller who is talking to an agent would later read as an abandon. Returns the
        changed call, or None when there was nothing to fill in."""
        call = self._active.get(live.linkedid)
        if call is None:
            return None
        changed = call
        if call.queued_at is None and live.queued_at is not None:
            changed = replace(changed, queue=live.queue, queued_at=live.queued_at,
                              join_position=call.join_position or live.join_position)
        if call.answered_at is None and live.answered_at is not None:
            answered = max(live.answered_at, changed.queued_at or live.answered_at)
            changed = replace(changed, answered_at=answered,
                              left_queue_at=changed.left_queue_at or answered,
                              agent_interface=live.agent_interface, agent_name=live.agent_name)
        if changed == call:
            return None
        self._active[call.linkedid] = changed
        return changed

    def restore(self, calls: Iterable[Call]) -> None:
        """Take back the calls that were in progress when the service stopped."""
        for call in calls:
            if not call.finished:
                self._active[call.linkedid] = call

    def active(self) -> list[Call]:
        return list(self._active.values())

    def get(self, linkedid: str) -> Call | None:
        return self._active.get(linkedid)

    def close_lost(self, linkedids: Iterable[str]) -> list[Call]:
        """Close calls whose channels are gone (seen on resync), with their last known facts."""
        closed = []
        for linkedid in linkedids:
            call = self._active.get(linkedid)
            if call is None:
                continue
            ended = replace(call, ended_at=call.last_event_at or call.arrived_at,
                            end_source=EndSource.RECONCILED)
            ended = replace(ended, outcome=decide_outcome(ended))
            self._store(ended)
            closed.append(ended)
        return closed
