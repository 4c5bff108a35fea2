"""Domain events for callbacks and agents' availability, as the PBX reports them.

callcentre/ami/translate.py makes these from AMI events (the one table); the
agent board (agents.py) and the callback dialler (services/callback_dialler.py) consume
them. A callback attempt's legs are named by ``channel_id``: the ChannelId given to
Originate, which is the agent leg's Uniqueid and the Linkedid of both legs. Each event's
``site`` is the prefix of the PBX it came from ("" the main one; domain/sites.py), so that
site's dialler gets it (services/diallers.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class MemberChanged:
    """A queue member's state (QueueMember, QueueMemberStatus/Pause/Added)."""

    queue: str
    interface: str
    name: str | None
    paused: bool
    status: int  # Asterisk device state: 1 not in use, 2 in use, 6 ringing, 5 unavailable ...
    in_call: bool
    site: str = ""


@dataclass(frozen=True, slots=True)
class MemberRemoved:
    queue: str
    interface: str
    site: str = ""


@dataclass(frozen=True, slots=True)
class DeviceChanged:
    device: str  # e.g. PJSIP/agent1
    state: str  # NOT_INUSE, INUSE, BUSY, RINGING, UNAVAILABLE, ONHOLD ...
    site: str = ""


@dataclass(frozen=True, slots=True)
class CallbackRequested:
    """The resident pressed the callback key while queued (UserEvent CallcentreCallbackRequest)."""

    linkedid: str
    channel: str
    at: datetime
    caller_raw: str | None
    case_ref: str | None
    language: str | None
    site: str = ""


@dataclass(frozen=True, slots=True)
class PromiseTold:
    """The dialplan told the resident the promised time (CallcentreCallbackPromiseTold)."""

    at: datetime
    callback_id: int
    site: str = ""


@dataclass(frozen=True, slots=True)
class AgentLegAnswered:
    """OriginateResponse Success: the agent answered; the dialplan now rings the resident."""

    action_id: str | None
    channel_id: str | None
    at: datetime
    site: str = ""


@dataclass(frozen=True, slots=True)
class AgentLegFailed:
    """OriginateResponse Failure: the agent's phone was not answered (or could not ring)."""

    action_id: str | None
    channel_id: str | None
    at: datetime
    reason: int | None  # 0 failed, 1 hung up, 3 no answer, 5 busy, 8 congestion
    site: str = ""


@dataclass(frozen=True, slots=True)
class ResidentDialEnded:
    """DialEnd of the resident's leg: ANSWER (connected to the agent: with a check, only once
    it passed), CONTINUE (answered, but the check hung up on them: no key 1, or a machine),
    NOANSWER, BUSY, CONGESTION, CHANUNAVAIL, CANCEL."""

    channel_id: str
    at: datetime
    status: str
    site: str = ""


@dataclass(frozen=True, slots=True)
class ResidentConfirmed:
    """The resident pressed the confirmation key (UserEvent CallcentreCallbackConfirmed)."""

    channel_id: str
    at: datetime
    site: str = ""


@dataclass(frozen=True, slots=True)
class MachineDetection:
    """AMD's verdict on whoever answered a callback (UserEvent CallcentreCallbackAmd)."""

    channel_id: str
    at: datetime
    status: str  # AMDSTATUS: MACHINE, HUMAN, NOTSURE or HANGUP
    cause: str | None  # AMDCAUSE, e.g. LONGGREETING-1500-1500, TOOLONG-4900
    site: str = ""


@dataclass(frozen=True, slots=True)
class CallbackLegResult:
    """UserEvent CallcentreCallbackResult from the callback's h extension."""

    channel_id: str
    at: datetime
    dial_status: str
    answered_seconds: float | None
    site: str = ""


@dataclass(frozen=True, slots=True)
class CallbackLegEnded:
    """Hangup of the agent leg (Uniqueid = channel_id): the attempt is over."""

    channel_id: str
    at: datetime
    site: str = ""


LegEvent = (
    AgentLegAnswered | AgentLegFailed | ResidentDialEnded | ResidentConfirmed
    | MachineDetection | CallbackLegResult | CallbackLegEnded
)
CallbackEvent = (
    MemberChanged | MemberRemoved | DeviceChanged | CallbackRequested | PromiseTold
    | AgentLegAnswered | AgentLegFailed | ResidentDialEnded | ResidentConfirmed
    | MachineDetection | CallbackLegResult | CallbackLegEnded
)
