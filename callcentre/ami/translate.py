"""AMI message -> domain event, through one table: the AMI adapter's only translation.

``Translator.EVENTS`` lists every Asterisk event the service reacts to (calls, callbacks,
agents); UserEvents go through a second table by their ``UserEvent`` name. Anything else is
counted as ignored (Debian's Asterisk sends e.g. ``TestEvent``). A message with missing or
unparsable fields is counted and skipped, never raised. Who consumes which domain event is
declared in app.py's subscription table, not here. A callback's legs are recognised by the
``CALLBACK_ID`` channel variable (manager.conf ``channelvars``) and named by their
Linkedid, which is the ChannelId callcentre gave to Originate.
"""

from __future__ import annotations

import functools
import logging
from collections import Counter
from collections.abc import Callable, Collection, Iterable
from datetime import UTC, datetime

from callcentre.ami.protocol import Message
from callcentre.domain import callback_events as cev
from callcentre.domain import events as ev
from callcentre.domain.cases import usable_keyed_ref
from callcentre.domain.waits import WaitAnnounced, WaitAsked, WaitEvent
from callcentre.ports import Clock

log = logging.getLogger("callcentre.ami")

Normaliser = Callable[[str | None], str | None]
Event = ev.CallEvent | cev.CallbackEvent | WaitEvent
When = Callable[[Message], datetime]
Handler = Callable[[Message, When], Event | None]
CASE_REF_VARIABLES = frozenset({"CASE_REF", "__CASE_REF", "_CASE_REF"})
_VARSETS_READ = CASE_REF_VARIABLES | {"QUEUESTATUS"}  # half of all events are VarSets
# Each call's number is normalised on Newchannel and again on QueueCallerJoin; a few
# calls' worth of numbers (personal data, so few) saves phonenumbers the second parse.
_NUMBERS_CACHED = 64


class Translator:
    """``normalise`` must depend on the raw number alone: its results are cached."""

    def __init__(self, inbound_contexts: Collection[str], normalise: Normaliser,
                 clock: Clock) -> None:
        self._inbound = frozenset(inbound_contexts)
        self._normalise = functools.lru_cache(maxsize=_NUMBERS_CACHED)(normalise)
        self._clock = clock
        self.handled: Counter[str] = Counter()
        self.ignored: Counter[str] = Counter()
        self.malformed = 0
        self.untimed = 0  # events made from messages without a Timestamp (timestampevents = no?)
        self.classes: Counter[str] = Counter()  # events by read class (Privilege: call,all)
        # when an inbound call first arrived with no queue event since (None: one came after)
        self.unqueued_since: datetime | None = None
        self.EVENTS: dict[str, Handler] = {
            # calls
            "Newchannel": self._newchannel,
            "VarSet": self._varset,
            "QueueCallerJoin": self._join,
            "AgentConnect": self._connect,
            "QueueCallerAbandon": self._abandon,
            "QueueCallerLeave": self._leave,
            "AgentComplete": self._complete,
            "Hangup": self._hangup,  # callers' calls and callbacks' agent legs alike
            # agents and callbacks
            "QueueMember": _member,  # in QueueStatus replies
            "QueueMemberStatus": _member,
            "QueueMemberPause": _member,
            "QueueMemberAdded": _member,
            "QueueMemberRemoved": _removed,
            "DeviceStateChange": _device,
            "OriginateResponse": _originate,
            "DialEnd": _dial_end,
            "UserEvent": self._user,
        }
        self.USER_EVENTS: dict[str, Handler] = {
            "CallcentreCallbackRequest": _requested,
            "CallcentreCallbackPromiseTold": _told,
            "CallcentreCallbackConfirmed": _confirmed,
            "CallcentreCallbackAmd": _amd,
            "CallcentreCallbackResult": _result,
            "CallcentreSurveyOffered": _survey_offered,
            "CallcentreSurveyAnswer": _survey_answer,
            "CallcentreWaitQuery": _wait_query,
            "CallcentreWaitTold": _wait_told,
        }

    def __call__(self, msg: Message) -> Event | None:
        name = msg.event or ""
        privilege = msg.get("Privilege")
        if privilege:
            kind = privilege.partition(",")[0][:20]
            self.classes[kind] += 1
            if kind == "agent":
                self.unqueued_since = None
        handler = self.EVENTS.get(name)
        if handler is None:
            self.ignored[name] += 1
            return None
        try:
            result = handler(msg, self._when)  # the time is read only for an event
        except (KeyError, ValueError):
            self.malformed += 1
            log.warning("skipped malformed %s event", name, exc_info=True)
            return None
        (self.handled if result is not None else self.ignored)[name] += 1
        if isinstance(result, ev.CallArrived) and self.unqueued_since is None:
            self.unqueued_since = self._clock.now()
        return result

    def _when(self, msg: Message) -> datetime:
        """The event's ``Timestamp``; the clock's time when it has none, or one no call can
        have (before 1970 or after 8999: year 1 once stopped the call log), counted."""
        stamp = msg.timestamp
        if stamp is None or not 0 < stamp < LATEST_STAMP:
            self.untimed += 1
            return self._clock.now()
        return datetime.fromtimestamp(stamp, UTC)

    def details(self, msg: Message) -> ev.CallerDetails:
        raw = msg.get("CallerIDNum")
        name = msg.get("CallerIDName")
        return ev.CallerDetails(
            channel=msg["Channel"],
            caller=self._normalise(raw),
            caller_raw=None if raw in (None, "", "<unknown>") else raw,
            caller_name=None if name in (None, "", "<unknown>") else name,
            dialled=msg.get("Exten") or None,
            case_ref=usable_keyed_ref(msg.chan_variables().get("CASE_REF")),
            language=_language(msg.get("Language")),
        )

    def _newchannel(self, msg: Message, when: When) -> ev.CallEvent | None:
        if not _is_caller_leg(msg) or msg.get("Context") not in self._inbound:
            return None
        return ev.CallArrived(msg["Linkedid"], when(msg), self.details(msg))

    def _varset(self, msg: Message, when: When) -> ev.CallEvent | None:
        variable = msg.get("Variable")
        if variable not in _VARSETS_READ or not _is_caller_leg(msg):
            return None
        if variable == "QUEUESTATUS":
            return ev.QueueResultSet(msg["Linkedid"], when(msg), msg.get("Value") or "")
        ref = usable_keyed_ref(msg.get("Value"))  # one of CASE_REF_VARIABLES
        return ev.CaseRefKeyed(msg["Linkedid"], when(msg), ref) if ref else None

    def _join(self, msg: Message, when: When) -> ev.CallEvent:
        return ev.QueueJoined(_linkedid(msg), when(msg), msg["Queue"], _int(msg.get("Position")),
                              self.details(msg))

    def _connect(self, msg: Message, when: When) -> ev.CallEvent:
        return ev.AgentAnswered(_linkedid(msg), when(msg), msg["Queue"], msg["Interface"],
                                msg.get("MemberName") or None)

    def _abandon(self, msg: Message, when: When) -> ev.CallEvent:
        return ev.CallerAbandoned(_linkedid(msg), when(msg), msg["Queue"],
                                  _int(msg.get("Position")), _int(msg.get("OriginalPosition")))

    def _leave(self, msg: Message, when: When) -> ev.CallEvent:
        return ev.QueueLeft(_linkedid(msg), when(msg), msg["Queue"])

    def _complete(self, msg: Message, when: When) -> ev.CallEvent:
        return ev.AgentCompleted(_linkedid(msg), when(msg), msg.get("Reason") or None)

    def _hangup(self, msg: Message, when: When) -> ev.CallEvent | None:
        if not _is_caller_leg(msg):
            return None
        return ev.CallerHungUp(msg["Linkedid"], when(msg), _int(msg.get("Cause")))

    def _user(self, msg: Message, when: When) -> Event | None:
        handler = self.USER_EVENTS.get(msg.get("UserEvent") or "")
        return None if handler is None else handler(msg, when)


def _is_caller_leg(msg: Message) -> bool:
    """The contact's first channel: its Uniqueid is the Linkedid of everything it spawned."""
    uniqueid = msg.get("Uniqueid")
    return uniqueid is not None and uniqueid == msg.get("Linkedid")


def _linkedid(msg: Message) -> str:
    return msg.get("Linkedid") or msg["Uniqueid"]


LATEST_STAMP = 221_845_392_000.0  # 9000-01-01 UTC
INT_LIMIT = 2**31  # positions, causes, statuses: larger is no Asterisk value (nor storable)


def _language(value: str | None) -> str | None:
    """A channel's language (``en``, ``ga``, ``pt_BR``): what Asterisk names sounds
    directories with; anything else (or nothing) is None, never stored."""
    if not value or len(value) > 16 or not value.replace("_", "").replace("-", "").isalnum():
        return None
    return value if value.isascii() else None


def _int(value: str | None) -> int | None:
    """An optional whole-number header; ValueError (a malformed event) if not one, or if
    it is out of any range Asterisk sends (a 30-digit Position once stopped the call log)."""
    if value is None or value == "":
        return None
    number = int(value)
    if not -INT_LIMIT < number < INT_LIMIT:
        raise ValueError(f"{value[:20]}... is out of range")
    return number


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes")


def _is_callback_leg(msg: Message) -> bool:
    return bool(msg.chan_variables().get("CALLBACK_ID"))


# --- the post-call survey (dialplans/: context callcentre-survey, on the resident's leg) ----
def _survey_offered(msg: Message, when: When) -> Event:
    return ev.SurveyOffered(msg["Linkedid"], when(msg), _callback_id(msg))


def _survey_answer(msg: Message, when: When) -> Event:
    # Answer is "" when Read() got no key in time (or the header is absent): a skip.
    return ev.SurveyAnswered(msg["Linkedid"], when(msg), msg["Question"],
                             (msg.get("Answer") or "")[:8], _callback_id(msg))


def _callback_id(msg: Message) -> int | None:
    """CALLBACK_ID on the channel (a callback's resident leg), if it is a usable id."""
    value = msg.chan_variables().get("CALLBACK_ID") or ""
    return int(value) if value.isdigit() and 0 < int(value) < INT_LIMIT else None


# --- agents and callbacks (their events carry no contact of the call log) ------------------
def member_changed(msg: Message) -> cev.MemberChanged:
    """QueueMember (in QueueStatus replies) and QueueMemberStatus/Pause/Added."""
    interface = msg.get("Interface") or msg["Location"]
    return cev.MemberChanged(msg["Queue"], interface,
                             msg.get("MemberName") or msg.get("Name") or None,
                             _flag(msg.get("Paused")), _int(msg.get("Status")) or 0,
                             _flag(msg.get("InCall")))


def queue_members(entries: Iterable[Message]) -> list[cev.MemberChanged]:
    """The QueueMember entries of a QueueStatus reply; malformed ones skipped."""
    members = []
    for msg in entries:
        if msg.event != "QueueMember":
            continue
        try:
            members.append(member_changed(msg))
        except (KeyError, ValueError):
            log.warning("skipped malformed QueueMember entry", exc_info=True)
    return members


def _member(msg: Message, when: When) -> Event:
    return member_changed(msg)


def _removed(msg: Message, when: When) -> Event:
    return cev.MemberRemoved(msg["Queue"], msg.get("Interface") or msg["Location"])


def _device(msg: Message, when: When) -> Event:
    return cev.DeviceChanged(msg["Device"], msg["State"])


def _originate(msg: Message, when: When) -> Event:
    uniqueid = msg.get("Uniqueid")
    channel_id = None if uniqueid in (None, "", "<null>") else uniqueid
    if msg.get("Response") == "Success":
        return cev.AgentLegAnswered(msg.action_id, channel_id, when(msg))
    return cev.AgentLegFailed(msg.action_id, channel_id, when(msg), _int(msg.get("Reason")))


def _dial_end(msg: Message, when: When) -> Event | None:
    # The resident's leg: dialled by the agent leg (Uniqueid = Linkedid = channel_id).
    uniqueid = msg.get("Uniqueid")
    if not uniqueid or uniqueid != msg.get("Linkedid") or not _is_callback_leg(msg):
        return None
    return cev.ResidentDialEnded(uniqueid, when(msg), msg["DialStatus"])


def _requested(msg: Message, when: When) -> Event:
    return cev.CallbackRequested(msg["Linkedid"], msg["Channel"], when(msg),
                                 msg.get("CallerIDNum") or None,
                                 usable_keyed_ref(msg.get("CaseRef")),
                                 _language(msg.get("Language")))


def _told(msg: Message, when: When) -> Event | None:
    callback_id = _int(msg.get("CallbackId"))
    return None if not callback_id else cev.PromiseTold(when(msg), callback_id)


def _confirmed(msg: Message, when: When) -> Event:
    return cev.ResidentConfirmed(msg["Linkedid"], when(msg))


def _amd(msg: Message, when: When) -> Event:
    # Raised on the resident's leg: its Linkedid is the agent leg's, the attempt's channel_id.
    return cev.MachineDetection(msg["Linkedid"], when(msg), msg["AmdStatus"],
                                msg.get("AmdCause") or None)


def _result(msg: Message, when: When) -> Event:
    seconds = msg.get("AnsweredTime") or ""
    return cev.CallbackLegResult(msg["Linkedid"], when(msg), msg.get("DialStatus") or "",
                                 float(seconds) if seconds else None)


# --- the estimated wait (dialplans/: council-inbound and callcentre-wait) -------------------
def _wait_query(msg: Message, when: When) -> Event:
    queue = msg["Queue"]
    if not queue or len(queue) > 80:
        raise ValueError("no usable Queue")
    position = _int(msg.get("Position"))
    return WaitAsked(msg["Linkedid"], msg["Channel"], when(msg), queue,
                     position if position and position > 0 else None,
                     msg.get("CallerIDNum") or None)


def _wait_told(msg: Message, when: When) -> Event:
    seconds = float(msg["Estimate"])
    if not 0 <= seconds < INT_LIMIT:
        raise ValueError(f"{msg['Estimate'][:20]} is no wait")
    offered = _int(msg.get("Offered"))
    due = datetime.fromtimestamp(offered, UTC) if offered and 0 < offered < LATEST_STAMP else None
    return WaitAnnounced(msg["Linkedid"], when(msg), msg["Queue"], seconds, due)
