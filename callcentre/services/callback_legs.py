"""The calls of callback attempts in flight, and how their PBX events decide the outcome.

A ``Leg`` gathers what the PBX said about one attempt (named by its ``channel_id``);
``LegTracker.apply`` returns the leg once it is over, and ``Leg.judge`` turns it into an
AttemptOutcome with the domain's rules (domain/callback_outcomes.py ``judge``):

* OriginateResponse Failure: the agent's phone was not answered (Reason 1 hung up/rejected,
  3 no answer, 5 busy -> ``agent_no_answer``; others -> ``failed``). Over at once.
* OriginateResponse Success, then the resident's leg: CallcentreCallbackConfirmed (they
  pressed 1) or CallcentreCallbackAmd (AMD's verdict) while the dialplan checks who
  answered; DialEnd (ANSWER -> connected to the agent at that moment, which with a check
  is only once it passed; CONTINUE -> the check hung up on them, no key or a machine;
  NOANSWER/CANCEL, BUSY, CONGESTION/CHANUNAVAIL), then the h extension's UserEvent
  (DialStatus and ANSWEREDTIME), then Hangup of the agent leg: over. Measured on
  Asterisk 22 (tests/fixtures/ami/callback_*.ami): after a CONTINUE the h extension still
  says DialStatus ANSWER, so the resident leg's DialEnd wins.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from callcentre.domain import callback_events as cev
from callcentre.domain import callbacks as cbd
from callcentre.domain.callback_outcomes import judge
from callcentre.domain.callback_policy import CallbackPolicy
from callcentre.domain.callbacks import Attempt, AttemptOutcome, Callback

AGENT_DECLINED = frozenset({1, 3, 5})  # OriginateResponse Reason: hung up, no answer, busy
DIAL_STATUS = {
    "NOANSWER": AttemptOutcome.NO_ANSWER,
    "CANCEL": AttemptOutcome.NO_ANSWER,  # the agent gave up while the resident's phone rang
    "BUSY": AttemptOutcome.BUSY,
    "CONGESTION": AttemptOutcome.FAILED,
    "CHANUNAVAIL": AttemptOutcome.FAILED,
}
EARLY_KEPT = 1000  # OriginateResponses seen before their ActionID was known


@dataclass
class Leg:
    callback_id: int
    channel_id: str
    agent: str
    started_at: datetime
    action_id: str | None = None
    agent_answered: bool = False
    agent_failed: int | None = None  # OriginateResponse Failure Reason (-1 when absent)
    dial_status: str | None = None
    answered_at: datetime | None = None
    answered_seconds: float | None = None
    confirmed: bool = False
    amd_status: str | None = None  # what AMD said of whoever answered
    ended_at: datetime | None = None
    done: bool = False
    last_event_at: datetime = field(init=False)

    def __post_init__(self) -> None:
        self.last_event_at = self.started_at

    @property
    def agent_declined(self) -> bool:
        return self.agent_failed in AGENT_DECLINED

    def from_stored(self, dial_status: str, attempt: Attempt) -> None:
        """What the dialplan stored in AstDB (the PBX finished it while we were away). Its
        ANSWEREDTIME counts from the agent's answer, so for ANSWER the talk time is unknown:
        the caller asks an agent for the outcome rather than guess (voicemail answers too)."""
        self.agent_answered = True
        self.dial_status = dial_status
        if dial_status == "ANSWER":
            self.answered_at = self.answered_at or attempt.answered_at or attempt.started_at

    def judge(self, cb: Callback, at: datetime,
              policy: CallbackPolicy) -> tuple[Callback, AttemptOutcome, datetime]:
        """(callback with what was observed, outcome, when the attempt ended)."""
        if self.answered_at is not None:
            cb = cbd.resident_answered(cb, self.answered_at)
        if self.confirmed:
            cb = cbd.resident_confirmed(cb)
        if self.amd_status is not None:
            cb = cbd.machine_detected(cb, self.amd_status)
        if self.agent_failed is not None and not self.agent_answered:
            bad = AttemptOutcome.AGENT_NO_ANSWER if self.agent_declined else AttemptOutcome.FAILED
            return cb, bad, at
        if self.dial_status == "CONTINUE":  # the dialplan's check hung up on whoever answered
            end = self.ended_at or at
            return cb, judge(cb, end, policy, hung_up_by_check=True), end
        if self.answered_at is not None:
            end = self.ended_at or at
            if self.answered_seconds is not None:
                end = self.answered_at + timedelta(seconds=self.answered_seconds)
            return cb, judge(cb, end, policy), end
        status = DIAL_STATUS.get(self.dial_status or "", AttemptOutcome.FAILED)
        return cb, status, self.ended_at or at


class LegTracker:
    def __init__(self) -> None:
        self._legs: dict[str, Leg] = {}
        self._early: OrderedDict[str, cev.AgentLegAnswered | cev.AgentLegFailed] = OrderedDict()

    def add(self, leg: Leg) -> Leg:
        self._legs[leg.channel_id] = leg
        return leg

    def pop(self, channel_id: str) -> Leg | None:
        return self._legs.pop(channel_id, None)

    def get(self, channel_id: str) -> Leg | None:
        return self._legs.get(channel_id)

    def active(self) -> list[Leg]:
        return list(self._legs.values())

    def busy_agents(self) -> set[str]:
        return {leg.agent for leg in self._legs.values()}

    @staticmethod
    def adopted(cb: Callback, attempt: Attempt) -> Leg:
        """A leg for an attempt started before a restart or a lost link."""
        leg = Leg(cb.id or 0, attempt.channel_id, attempt.agent or "", attempt.started_at)
        leg.answered_at = attempt.answered_at
        return leg

    def adopt(self, cb: Callback, attempt: Attempt) -> Leg:
        leg = self._legs.get(attempt.channel_id) or self.add(self.adopted(cb, attempt))
        leg.agent_answered = True  # its channel is up: follow it to its end
        return leg

    def match_early(self, leg: Leg) -> Leg | None:
        """Apply an OriginateResponse that came before ``originate`` returned its ActionID."""
        event = self._early.pop(leg.action_id or "", None)
        return None if event is None else self.apply(event)

    def _find(self, action_id: str | None, channel_id: str | None) -> Leg | None:
        if channel_id and channel_id in self._legs:
            return self._legs[channel_id]
        return next((leg for leg in self._legs.values()
                     if action_id and leg.action_id == action_id), None)

    def apply(self, event: cev.LegEvent) -> Leg | None:
        """Fold one event in; return the leg when this event ends it (once)."""
        if isinstance(event, cev.AgentLegAnswered | cev.AgentLegFailed):
            leg = self._find(event.action_id, event.channel_id)
            if leg is None:
                self._remember_early(event)
                return None
        else:
            leg = self._legs.get(event.channel_id)
            if leg is None:
                return None
        leg.last_event_at = max(leg.last_event_at, event.at)
        over = _fold(leg, event)
        if over and not leg.done:
            leg.done = True
            return leg
        return None

    def _remember_early(self, event: cev.AgentLegAnswered | cev.AgentLegFailed) -> None:
        if event.action_id:
            self._early[event.action_id] = event
            while len(self._early) > EARLY_KEPT:
                self._early.popitem(last=False)


def _fold(leg: Leg, event: cev.LegEvent) -> bool:  # noqa: PLR0911  # one return per event kind
    """Apply ``event`` to ``leg``; True when the attempt is over."""
    if isinstance(event, cev.AgentLegAnswered):
        leg.agent_answered = True
        return leg.ended_at is not None
    if isinstance(event, cev.AgentLegFailed):
        leg.agent_failed = -1 if event.reason is None else event.reason
        return not leg.agent_answered or leg.ended_at is not None
    if isinstance(event, cev.ResidentDialEnded):
        leg.agent_answered = True
        leg.dial_status = event.status
        if event.status == "ANSWER":
            leg.answered_at = leg.answered_at or event.at
        return False
    if isinstance(event, cev.ResidentConfirmed):
        leg.confirmed = True
        return False
    if isinstance(event, cev.MachineDetection):
        leg.amd_status = event.status
        return False
    if isinstance(event, cev.CallbackLegResult):
        # Its AnsweredTime counts from the *agent's* answer (measured on Asterisk 22), so
        # talk time comes from the resident's DialEnd and the Hangup timestamps instead.
        # Its DialStatus is ANSWER after a CONTINUE too: the resident leg's DialEnd wins.
        leg.agent_answered = True
        leg.dial_status = leg.dial_status or event.dial_status or None
        return False
    if isinstance(event, cev.CallbackLegEnded):
        leg.ended_at = event.at
        return leg.agent_answered or leg.agent_failed is not None
    return False
