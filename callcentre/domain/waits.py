"""How long a resident in a queue will wait, from the queue as it is now.

Pure, standard library only. With all ``n`` serving agents busy, a resident at position
``p`` (1 = next to be answered) waits until the ``p - 1`` ahead of them have gone, each
stage ending when an agent frees up (rate ``n mu``) or one of the ``j`` still ahead gives
up (rate ``j theta``), and then one more agent frees up. Each stage is exponential, so

    E[W] = sum_{j=0}^{p-1} 1 / (n mu + j theta)

(``mu`` = 1 / mean handling time, ``theta`` = 1 / mean patience; the stage structure is
the one Erlang A's wait is built from, see domain/erlang.py). With ``theta`` unknown
(nobody ever gave up) this is ``p h / n``, the naive estimate. Agents free now take the
first residents at once: a resident with no more than ``free`` ahead-and-including waits
only the lag below.

Before any of that comes a lag that no agent being free removes: the announcement itself,
the agent's phone ringing. Both it and the handling time are learnt from the waits residents
then had (``WaitLearning``): the lag from those told they would be answered at once, and the
handling time that explains the others' waits, which is an agent's whole turn per call
(ringing, talking, wrap-up, the queue's own pace) where talk time alone is short of it.
On a real burst, talk time alone made the estimate worse than the naive one (bench/wait_real.py).

Until enough waits have been seen: the mean talk time of the queue's last answered calls
(``RecentHandling``), else the capacity model's (domain/capacity.py), and no lag.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from dataclasses import dataclass
from datetime import datetime

RECENT_CALLS = 20  # answered calls a queue's live handling time is the mean of
MIN_RECENT = 5  # fewer seen live than this: the capacity model's handling time
LONGEST_LEARNT = 4 * 3600.0  # a wait or handling time beyond this teaches nothing


@dataclass(frozen=True, slots=True)
class QueueNow:
    """A queue as the service sees it at one moment: who serves, how fast, how patient."""

    serving: int  # members logged in, not paused, reachable: busy or free
    free: int  # of those, free now
    handling_seconds: float | None  # mean handling time; None: nothing known
    patience_seconds: float | None = None  # mean patience; None: nobody gave up (theta 0)
    lag_seconds: float = 0.0  # before an answer even with an agent free (WaitLearning)


def expected_wait(position: int, queue: QueueNow) -> float | None:
    """Expected seconds until an agent answers the resident at ``position`` (1 = head).

    None when it cannot be said: nobody serving the queue, or no handling time known."""
    if position < 1 or queue.serving < 1:
        return None
    ahead = ahead_of(position, queue)
    if ahead <= 0:
        return queue.lag_seconds
    h = queue.handling_seconds
    if h is None or h <= 0:
        return None
    return queue.lag_seconds + _queueing(ahead, queue.serving, h, _theta(queue.patience_seconds))


def ahead_of(position: int, queue: QueueNow) -> int:
    """Residents to be served before this one's turn: the free agents take the first ones."""
    return position - min(queue.free, queue.serving)


def _theta(patience_seconds: float | None) -> float:
    return 1.0 / patience_seconds if patience_seconds else 0.0


def _queueing(ahead: int, serving: int, handling: float, theta: float) -> float:
    served = serving / handling
    return math.fsum(1.0 / (served + j * theta) for j in range(ahead))


def handling_for(wait: float, ahead: int, serving: int, patience: float | None) -> float | None:
    """The handling time under which ``ahead`` residents before this one take ``wait``
    seconds to be served: the inverse of the queueing term, which grows with it (exact
    without patience; by bisection with). None when the wait cannot teach it."""
    if ahead <= 0 or serving < 1 or not 0 < wait <= LONGEST_LEARNT:
        return None
    theta = _theta(patience)
    if theta == 0:
        return wait * serving / ahead
    low, high = 0.0, wait * serving / ahead
    while _queueing(ahead, serving, high, theta) < wait and high < LONGEST_LEARNT:
        high *= 2  # patience shortens the wait: a longer handling time explains it
    for _ in range(50):
        middle = (low + high) / 2
        low, high = (middle, high) if _queueing(ahead, serving, middle, theta) < wait \
            else (low, middle)
    return (low + high) / 2


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


class WaitLearning:
    """Each queue's lag and handling time as the waits residents had teach them (the last
    ``keep`` of each): the lag is the median wait of residents told an agent was free, the
    handling time the mean of those that explain the other residents' waits beyond the lag.
    Nothing is said of a queue until ``least`` of a kind have been seen."""

    def __init__(self, keep: int = RECENT_CALLS, least: int = MIN_RECENT) -> None:
        self._least = least
        self._lags: dict[str, deque[float]] = {}
        self._handling = RecentHandling(keep, least)
        self._keep = keep

    def learn(self, told: WaitTold, had: float) -> None:
        """``had``: the seconds from the answer told to the agent's answer."""
        if not 0 <= had <= LONGEST_LEARNT:
            return
        if told.ahead <= 0:
            self._lags.setdefault(told.queue, deque(maxlen=self._keep)).append(had)
            return
        handling = handling_for(had - self.lag(told.queue), told.ahead, told.serving,
                                told.patience_seconds)
        if handling is not None:
            self._handling.add(told.queue, handling)

    def lag(self, queue: str) -> float:
        seen = self._lags.get(queue)
        return statistics.median(seen) if seen and len(seen) >= self._least else 0.0

    def handling(self, queue: str, fallback: float | None) -> float | None:
        return self._handling.mean(queue, fallback)

    def learnt(self, queue: str) -> dict[str, float]:
        """What ``queue``'s waits have taught so far: "lag" and "handling" seconds, each
        once ``least`` of its kind were seen (until then the estimate does without)."""
        figures = {}
        seen = self._lags.get(queue)
        if seen and len(seen) >= self._least:
            figures["lag"] = statistics.median(seen)
        handling = self._handling.mean(queue, None)
        if handling is not None:
            figures["handling"] = handling
        return figures


@dataclass(frozen=True, slots=True)
class WaitTold:
    """What the service answered a resident's wait question with (kept per call)."""

    queue: str
    at: datetime
    estimate: float  # seconds
    offered_due: datetime | None  # the callback time offered; None: no offer
    ahead: int  # residents to be served first (0 or less: an agent was free)
    serving: int  # agents serving the queue then
    patience_seconds: float | None  # the patience the estimate assumed


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
