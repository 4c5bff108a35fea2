"""Who can take a callback now: agents' availability from queue member and device events.

Pure: folds MemberChanged/MemberRemoved/DeviceChanged into a board. An agent is
available when they are a member of a queue, not paused, not in a call, and their phone
is idle (device state when known, else the member status).

Languages: an agent speaks the language of each queue they are a member of. A queue named
``<anything>-<code>`` for one of the council's languages serves that language (``council-ga``);
any other queue serves the default, the first of the setting ``languages`` (``council``).
The council says who speaks what where it already says who answers: queue membership
(queues.conf ``member =`` lines, or AMI/CLI ``queue add member``). README: "Languages".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from callcentre.domain.callback_events import DeviceChanged, MemberChanged, MemberRemoved

NOT_INUSE = 1  # Asterisk's AST_DEVICE_NOT_INUSE, as QueueMember Status reports it
IDLE_DEVICE = "NOT_INUSE"


@dataclass(frozen=True, slots=True)
class Agent:
    interface: str
    name: str | None
    queues: frozenset[str]
    paused: bool = False
    status: int = NOT_INUSE
    in_call: bool = False
    device: str | None = None  # DeviceStateChange state, when seen
    # the queues where they are paused: ``paused`` means all of them. A pause is per queue
    # in Asterisk (PauseMember with a Queue), and an agent in council and council-ga may
    # be paused in one only; the last event must not speak for both.
    paused_in: frozenset[str] = frozenset()

    @property
    def available(self) -> bool:
        if not self.queues or self.paused or self.in_call:
            return False
        return self.device == IDLE_DEVICE if self.device is not None else self.status == NOT_INUSE

    def speaks(self, language: str, languages: Sequence[str]) -> bool:
        """Member of a queue that serves ``language`` (see queue_language), not paused there."""
        return any(queue_language(q, languages) == language
                   for q in self.queues - self.paused_in)

    def known_as(self, who: str) -> bool:
        key = who.strip().lower()
        return key in (self.interface.lower(), (self.name or "").lower())


def queue_language(queue: str, languages: Sequence[str]) -> str:
    """The language a queue serves: its ``-<code>`` suffix when that code is one of
    ``languages`` (case-insensitive), else the default, ``languages[0]``."""
    _, dash, code = queue.rpartition("-")
    wanted = code.lower()
    found = next((x for x in languages if x.lower() == wanted), None) if dash else None
    return found or languages[0]


def wanted_language(language: str | None, languages: Sequence[str]) -> str:
    """The language to serve a resident in: theirs when the council offers it, else the
    default (a callback keyed in a language since removed from ``languages``)."""
    found = next((x for x in languages if x.lower() == (language or "").lower()), None)
    return found or languages[0]


class AgentBoard:
    def __init__(self) -> None:
        self._agents: dict[str, Agent] = {}
        self.version = 0  # bumped on every change that may free an agent

    def apply(self, event: MemberChanged | MemberRemoved | DeviceChanged) -> bool:
        """Fold one event in; True when someone's availability may have changed."""
        if isinstance(event, MemberChanged):
            old = self._agents.get(event.interface)
            queues = (old.queues if old else frozenset()) | {event.queue}
            paused_in = (old.paused_in if old else frozenset()) - {event.queue}
            paused_in |= {event.queue} if event.paused else frozenset()
            self._agents[event.interface] = Agent(
                event.interface, event.name or (old.name if old else None), queues,
                queues <= paused_in, event.status, event.in_call,
                old.device if old else None, paused_in)
        elif isinstance(event, MemberRemoved):
            old = self._agents.get(event.interface)
            if old is None:
                return False
            queues, paused_in = old.queues - {event.queue}, old.paused_in - {event.queue}
            self._agents[event.interface] = replace(
                old, queues=queues, paused_in=paused_in,
                paused=bool(queues) and queues <= paused_in)
        else:
            old = self._agents.get(event.device)
            if old is None or old.device == event.state:
                return False
            self._agents[event.device] = replace(old, device=event.state)
        self.version += 1
        return True

    def available(self) -> list[Agent]:
        return sorted((a for a in self._agents.values() if a.available),
                      key=lambda a: a.interface)

    def find(self, who: str) -> Agent | None:
        return next((a for a in self._agents.values() if a.known_as(who)), None)

    def all(self) -> list[Agent]:
        return sorted(self._agents.values(), key=lambda a: a.interface)


def earlier_caller_waits(queue: str, queued_at: datetime,
                         waiting: Mapping[str, tuple[int, float]], now: datetime) -> bool:
    """Someone who joined ``queue`` before ``queued_at`` still waits there: the longest
    wait in it began earlier (``waiting``: queue -> (residents waiting, longest wait s))."""
    n, longest = waiting.get(queue, (0, 0.0))
    return n > 0 and now - timedelta(seconds=longest) < queued_at
