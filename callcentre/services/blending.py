"""Blending: residents in the queue first (README "Callbacks", Blending).

The dialler asks two things before it gives a callback to an agent:

* **Which free agents the queue can spare**: none of an agent's queues may hold a resident
  who has waited longer than ``blend_wait_seconds`` (the answer threshold), unless the
  callback is due within ``blend_margin`` (about to break its promise).
* **Whether a resident who pressed the callback key keeps their place**: they are not called
  back while someone who joined that queue before them still waits, again unless their
  deadline is within the margin. The place (queue, time joined) is taken from the live call
  when the key is pressed, so it is kept in memory: after a restart such callbacks are
  blended like any other.

``waiting`` is the live queue state the wallboard shows (MonitoringService.waiting):
queue -> (residents waiting, longest wait in seconds).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from callcentre.domain.agents import Agent, earlier_caller_waits
from callcentre.domain.calls import Call

Waiting = Callable[[], Mapping[str, tuple[int, float]]]  # queue -> (waiting, longest wait s)
MAX_PLACES = 10_000  # keypress callbacks whose place is remembered at once


class Blending:
    def __init__(self, wait_seconds: float | None, margin: timedelta) -> None:
        self._wait_seconds = wait_seconds  # None: blending off
        self._margin = margin
        self.waiting: Waiting = dict  # app.py: MonitoringService.waiting
        self.live_call: Callable[[str], Call | None] = lambda linkedid: None  # app.py: tracker
        self._places: dict[int, tuple[str, datetime]] = {}  # keypress callback -> its place
        self.held_for_place = 0  # offers held back: earlier callers still waited

    def crowded_queues(self) -> set[str]:
        """Queues where a resident has waited longer than the answer threshold now."""
        if self._wait_seconds is None:
            return set()
        return {q for q, (n, longest) in self.waiting().items()
                if n and longest > self._wait_seconds}

    def agents_for(self, free: list[Agent], due_by: datetime, now: datetime) -> list[Agent]:
        """The free agents whose queues can spare them, or all of them for a callback due
        within the margin (about to break its promise)."""
        crowded = self.crowded_queues()
        if not crowded or now >= due_by - self._margin:
            return free
        return [a for a in free if not a.queues & crowded]

    def remember_place(self, callback_id: int, linkedid: str) -> None:
        """The callback key was pressed on ``linkedid``: keep the resident's place."""
        call = self.live_call(linkedid)
        if call is not None and call.queue and call.queued_at and len(self._places) < MAX_PLACES:
            self._places[callback_id] = (call.queue, call.queued_at)

    def keeps_place(self, callback_id: int, due_by: datetime, now: datetime) -> bool:
        """True while the callback must wait for residents who joined its queue earlier."""
        place = self._places.get(callback_id)
        if place is None or self._wait_seconds is None or now >= due_by - self._margin:
            return False
        if not earlier_caller_waits(*place, self.waiting(), now):
            self._places.pop(callback_id, None)  # they have all been served (or left)
            return False
        self.held_for_place += 1
        return True
