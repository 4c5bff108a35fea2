"""Domain events: what the PBX told us, in the council's terms.

The AMI adapter (callcentre/ami/translate.py) turns Asterisk events into these;
the call tracker (calls.py) folds them into call records. Every event carries the
contact's ``linkedid`` (Asterisk's id for the whole contact, shared by the caller
leg and the agent legs) and the time Asterisk says it happened.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class CallerDetails:
    """Who is calling and what they dialled, as seen on the caller's channel."""

    channel: str
    caller: str | None  # E.164 when presentable and valid, else None
    caller_raw: str | None  # what the PBX presented, for audit; masked in logs
    caller_name: str | None
    dialled: str | None
    case_ref: str | None
    language: str | None = None  # the channel's CHANNEL(language) (snapshot header Language)


@dataclass(frozen=True, slots=True)
class CallArrived:
    """The caller's first channel entered one of the council's inbound contexts."""

    linkedid: str
    at: datetime
    details: CallerDetails


@dataclass(frozen=True, slots=True)
class CaseRefKeyed:
    """The dialplan set CASE_REF on the caller's channel (keypad or SIP header)."""

    linkedid: str
    at: datetime
    case_ref: str


@dataclass(frozen=True, slots=True)
class QueueJoined:
    linkedid: str
    at: datetime
    queue: str
    position: int | None
    details: CallerDetails


@dataclass(frozen=True, slots=True)
class AgentAnswered:
    linkedid: str
    at: datetime
    queue: str
    interface: str
    agent_name: str | None


@dataclass(frozen=True, slots=True)
class CallerAbandoned:
    """The caller hung up while still queued (QueueCallerAbandon)."""

    linkedid: str
    at: datetime
    queue: str
    position: int | None
    original_position: int | None


@dataclass(frozen=True, slots=True)
class QueueLeft:
    linkedid: str
    at: datetime
    queue: str


@dataclass(frozen=True, slots=True)
class AgentCompleted:
    """The agent conversation ended (AgentComplete): the end of talk time."""

    linkedid: str
    at: datetime
    reason: str | None


@dataclass(frozen=True, slots=True)
class QueueResultSet:
    """The dialplan's QUEUESTATUS after Queue() returned (TIMEOUT, FULL, ...)."""

    linkedid: str
    at: datetime
    status: str


@dataclass(frozen=True, slots=True)
class CallerHungUp:
    """The caller's own channel hung up: the contact is over."""

    linkedid: str
    at: datetime
    cause: int | None


@dataclass(frozen=True, slots=True)
class SurveyOffered:
    """The resident stayed on after the agent hung up and the post-call survey began
    (UserEvent CallcentreSurveyOffered). A resident who hangs up during it skips the rest."""

    linkedid: str
    at: datetime
    callback_id: int | None = None  # after a callback: its id (CALLBACK_ID on the leg)


@dataclass(frozen=True, slots=True)
class SurveyAnswered:
    """The resident's key for one survey question (UserEvent CallcentreSurveyAnswer);
    ``key`` is "" when they pressed nothing in time (a skip). After a callback, ``linkedid``
    is the attempt's ChannelId and ``callback_id`` the callback's."""

    linkedid: str
    at: datetime
    question: str
    key: str
    callback_id: int | None = None


CallEvent = (
    CallArrived
    | CaseRefKeyed
    | QueueJoined
    | AgentAnswered
    | CallerAbandoned
    | QueueLeft
    | AgentCompleted
    | QueueResultSet
    | CallerHungUp
    | SurveyOffered
    | SurveyAnswered
)
