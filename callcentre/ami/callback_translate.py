"""AMI message -> callback/agent domain event, through one table (translate.py's twin).

``CallbackTranslator.EVENTS`` lists every Asterisk event the callback feature reacts to;
UserEvents go through a second table by their ``UserEvent`` name. Malformed messages
are counted and skipped, never raised. A callback's legs are recognised by the
``CALLBACK_ID`` channel variable (manager.conf ``channelvars``) and named by their
Linkedid, which is the ChannelId callcentre gave to Originate.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime

from callcentre.ami.protocol import Message
from callcentre.domain import callback_events as cev
from callcentre.domain.cases import usable_keyed_ref
from callcentre.ports import Clock

log = logging.getLogger("callcentre.ami")

Handler = Callable[[Message, datetime], cev.CallbackEvent | None]


def _int(value: str | None) -> int | None:
    return None if not value else int(value)


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes")


def _is_callback_leg(msg: Message) -> bool:
    return bool(msg.chan_variables().get("CALLBACK_ID"))


class CallbackTranslator:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self.handled: Counter[str] = Counter()
        self.ignored: Counter[str] = Counter()
        self.malformed = 0
        self.EVENTS: dict[str, Handler] = {
            "QueueMember": self._member,  # in QueueStatus replies
            "QueueMemberStatus": self._member,
            "QueueMemberPause": self._member,
            "QueueMemberAdded": self._member,
            "QueueMemberRemoved": self._removed,
            "DeviceStateChange": self._device,
            "OriginateResponse": self._originate,
            "DialEnd": self._dial_end,
            "Hangup": self._hangup,
            "UserEvent": self._user,
        }
        self.USER_EVENTS: dict[str, Handler] = {
            "CallcentreCallbackRequest": self._requested,
            "CallcentreCallbackPromiseTold": self._told,
            "CallcentreCallbackConfirmed": self._confirmed,
            "CallcentreCallbackResult": self._result,
        }

    def __call__(self, msg: Message) -> cev.CallbackEvent | None:
        name = msg.event or ""
        handler = self.EVENTS.get(name)
        if handler is None:
            return None  # not ours; translate.py counts what nobody handles
        try:
            result = handler(msg, self._when(msg))
        except (KeyError, ValueError):
            self.malformed += 1
            log.warning("skipped malformed %s event (callbacks)", name, exc_info=True)
            return None
        (self.handled if result is not None else self.ignored)[name] += 1
        return result

    def _when(self, msg: Message) -> datetime:
        stamp = msg.timestamp
        return self._clock.now() if stamp is None else datetime.fromtimestamp(stamp, UTC)

    def _member(self, msg: Message, at: datetime) -> cev.CallbackEvent:
        interface = msg.get("Interface") or msg["Location"]
        return cev.MemberChanged(msg["Queue"], interface,
                                 msg.get("MemberName") or msg.get("Name") or None,
                                 _flag(msg.get("Paused")), _int(msg.get("Status")) or 0,
                                 _flag(msg.get("InCall")))

    def _removed(self, msg: Message, at: datetime) -> cev.CallbackEvent:
        return cev.MemberRemoved(msg["Queue"], msg.get("Interface") or msg["Location"])

    def _device(self, msg: Message, at: datetime) -> cev.CallbackEvent:
        return cev.DeviceChanged(msg["Device"], msg["State"])

    def _originate(self, msg: Message, at: datetime) -> cev.CallbackEvent:
        uniqueid = msg.get("Uniqueid")
        channel_id = None if uniqueid in (None, "", "<null>") else uniqueid
        if msg.get("Response") == "Success":
            return cev.AgentLegAnswered(msg.action_id, channel_id, at)
        return cev.AgentLegFailed(msg.action_id, channel_id, at, _int(msg.get("Reason")))

    def _dial_end(self, msg: Message, at: datetime) -> cev.CallbackEvent | None:
        # The resident's leg: dialled by the agent leg (Uniqueid = Linkedid = channel_id).
        uniqueid = msg.get("Uniqueid")
        if not uniqueid or uniqueid != msg.get("Linkedid") or not _is_callback_leg(msg):
            return None
        return cev.ResidentDialEnded(uniqueid, at, msg["DialStatus"])

    def _hangup(self, msg: Message, at: datetime) -> cev.CallbackEvent | None:
        uniqueid = msg.get("Uniqueid")
        if not uniqueid or uniqueid != msg.get("Linkedid") or not _is_callback_leg(msg):
            return None
        return cev.CallbackLegEnded(uniqueid, at)

    def _user(self, msg: Message, at: datetime) -> cev.CallbackEvent | None:
        handler = self.USER_EVENTS.get(msg.get("UserEvent") or "")
        return None if handler is None else handler(msg, at)

    def _requested(self, msg: Message, at: datetime) -> cev.CallbackEvent:
        return cev.CallbackRequested(msg["Linkedid"], msg["Channel"], at,
                                     msg.get("CallerIDNum") or None,
                                     usable_keyed_ref(msg.get("CaseRef")),
                                     msg.get("Language") or None)

    def _told(self, msg: Message, at: datetime) -> cev.CallbackEvent | None:
        callback_id = _int(msg.get("CallbackId"))
        return None if not callback_id else cev.PromiseTold(at, callback_id)

    def _confirmed(self, msg: Message, at: datetime) -> cev.CallbackEvent:
        return cev.ResidentConfirmed(msg["Linkedid"], at)

    def _result(self, msg: Message, at: datetime) -> cev.CallbackEvent:
        seconds = msg.get("AnsweredTime") or ""
        return cev.CallbackLegResult(msg["Linkedid"], at, msg.get("DialStatus") or "",
                                     float(seconds) if seconds else None)
