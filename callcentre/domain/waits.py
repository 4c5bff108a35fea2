"""How long a resident in a queue will wait, from the queue as it is now.

Pure, standard library only. With all ``n`` serving agents busy, a resident at position
``p`` (1 = next to be answered) waits until the ``p - 1`` ahead of them have gone, each
stage ending when an agent frees up (rate ``n mu``) or one of the ``j`` still ahead gives
up (rate ``j theta``), and then one more agent frees up. Each stage is exponential, so

    E[W] = sum_{j=0}^{p-1} 1 / (n mu + j theta)

(``mu`` = 1 / mean handling time, ``theta`` = 1 / mean patience; the stage structure is
the one Erlang A's wait is built from, see domain/erlang.py). With ``theta`` unknown
(nobody ever gave up) this is ``p h / n``, the naive estimate. Agents free now take the
first residents at once: a resident with no more than ``free`` ahead-and-including waits 0.

Handling time: the mean of the queue's last answered calls seen live (``RecentHandling``),
falling back to the capacity model's (domain/capacity.py) when too few have been seen.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from datetime import datetime

RECENT_CALLS = 20  # answered calls a queue's live handling time is the mean of
MIN_RECENT = 5  # fewer seen live than this: the capacity model's handling time


@dataclass(frozen=True, slots=True)
class QueueNow:
    """A queue as the service sees it at one moment: who serves, how fast, how patient."""

    serving: int  # members logged in, not paused, reachable: busy or free
    free: int  # of those, free now
    handling_seconds: float | None  # mean handling time; None: nothing known
    patience_seconds: float | None = None  # mean patience; None: nobody gave up (theta 0)


def expected_wait(position: int, queue: QueueNow) -> float | None:
    """Expected seconds until an agent answers the resident at ``position`` (1 = head).

    None when it cannot be said: nobody serving the queue, or no handling time known."""
    if position < 1 or queue.serving < 1:
        return None
    ahead = position - min(queue.free, queue.serving)  # the free agents take the first ones
    if ahead <= 0:
        return 0.0
    h = queue.handling_seconds
    if h is None or h <= 0:
        return None
    served = queue.serving / h
    theta = 1.0 / queue.patience_seconds if queue.patience_seconds else 0.0
    return math.fsum(1.0 / (served + j * theta) for j in range(ahead))


def naive_wait(position: int, serving: int, handling_seconds: float | None) -> float | None:
    """Position x mean handling time / agents: the usual announcement (the bench's reference)."""
    if position < 1 or serving < 1 or not handling_seconds or handling_seconds <= 0:
        return None
    return position * handling_seconds / serving


def minutes_to_say(seconds: float) -> int:
    """Whole minutes to announce: rounded up, so the resident is not promised too little;
    0 means "less than a minute" is said."""
    if seconds <= 0:
        return 0
    return math.ceil(seconds / 60.0 - 1e-9)


def should_offer(estimate: float | None, threshold_seconds: float) -> bool:
    """Offer a callback when the estimate is over the threshold (0 or less: never)."""
    return threshold_seconds > 0 and estimate is not None and estimate > threshold_seconds


def position_among(queued: list[tuple[str, datetime]], linkedid: str) -> int:
    """The resident's place among ``queued`` (linkedid, first joined), first come first
    served; a resident not yet among them (asking before Queue()) joins at the end."""
    mine = next((at for lid, at in queued if lid == linkedid), None)
    if mine is None:
        return len(queued) + 1
    return 1 + sum(1 for lid, at in queued if lid != linkedid and (at, lid) < (mine, linkedid))


class RecentHandling:
    """Each queue's last ``keep`` handling times seen live (talk seconds of answered calls)."""

    def __init__(self, keep: int = RECENT_CALLS, least: int = MIN_RECENT) -> None:
        self._keep = keep
        self._least = least
        self._seen: dict[str, deque[float]] = {}

    def add(self, queue: str, seconds: float) -> None:
        if seconds < 0 or not math.isfinite(seconds):
            return
        self._seen.setdefault(queue, deque(maxlen=self._keep)).append(seconds)

    def mean(self, queue: str, fallback: float | None) -> float | None:
        """The mean of the queue's recent calls; ``fallback`` when fewer than ``least``."""
        seen = self._seen.get(queue)
        if seen is None or len(seen) < self._least:
            return fallback
        return sum(seen) / len(seen)


@dataclass(frozen=True, slots=True)
class WaitTold:
    """What the service answered a resident's wait question with (kept per call)."""

    queue: str
    at: datetime
    estimate: float  # seconds
    offered_due: datetime | None  # the callback time offered; None: no offer


@dataclass(frozen=True, slots=True)
class WaitAsked:
    """The dialplan asks what to tell a resident joining or waiting in ``queue``
    (UserEvent CallcentreWaitQuery); ``position`` is Queue()'s QUEUEPOSITION when the
    resident was just let out of it to hear the wait again (None: not yet queued)."""

    linkedid: str
    channel: str
    at: datetime
    queue: str
    position: int | None
    caller_raw: str | None


@dataclass(frozen=True, slots=True)
class WaitAnnounced:
    """The dialplan told the resident the wait (UserEvent CallcentreWaitTold): ``seconds``
    as the service answered, and the callback time offered (None: no offer)."""

    linkedid: str
    at: datetime
    queue: str
    seconds: float
    offered_due: datetime | None


WaitEvent = WaitAsked | WaitAnnounced
