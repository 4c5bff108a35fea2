"""The capacity model of a queue, learned from its own history, by half-hour of the week.

Pure. Storage sums finished calls per UTC half-hour (``HalfHour``: migration 019 keeps
them as calls are stored); ``learn`` files each
under its council-local half-hour of the week (Monday 00:00 is slot 0) and averages the
weeks: a **plain mean of the last N whole weeks** (every weekday slot seen N times; a
public holiday in the window lowers its weekday's figures by 1/N). Handling time and
patience are one figure each for the queue over the window (per half-hour they would be
too noisy to staff by).

* arrivals: residents who joined the queue while open (every outcome with a queue wait,
  short abandons included: they took a place in the queue; calls while closed are left
  out: nobody is staffed for them, and those that become callbacks count as callbacks);
* handling: mean talk time of answered calls (the time an agent is taken; wrap-up is not
  recorded);
* patience: exponential, estimated as abandons / total time residents spent waiting (the
  maximum-likelihood estimate with answered and other exits as censored waits, as
  Mandelbaum & Zeltyn estimate it); None when nobody abandoned (then Erlang C);
* callbacks: agent-seconds spent on callback attempts (from ringing the agent to hang-up),
  council-wide: a callback has no queue;
* agents last week: how many different agents answered a call in each half-hour, a lower
  bound of who was logged in (the service does not record log-ins).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

SLOT_SECONDS = 1800
SLOTS_PER_DAY = 48
SLOTS = 7 * SLOTS_PER_DAY


def slot_of(local: datetime) -> int:
    """The half-hour of the week a council-local time is in (Monday 00:00-00:30 is 0)."""
    return local.weekday() * SLOTS_PER_DAY + local.hour * 2 + local.minute // 30


def slot_label(slot: int) -> str:
    minutes = (slot % SLOTS_PER_DAY) * 30
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@dataclass(frozen=True, slots=True)
class HalfHour:
    """Sums of one UTC half-hour of history (``start`` on :00 or :30), additive."""

    start: datetime
    arrivals: int = 0
    answered: int = 0
    talk_seconds: float = 0.0  # of answered calls with a known talk time
    talked: int = 0  # answered calls with a known talk time
    abandoned: int = 0
    waited_seconds: float = 0.0  # every queued resident's wait (answered, gone or other)
    callback_seconds: float = 0.0  # agents' time on callback attempts started in it
    agents: int = 0  # different agents who answered a call (last week's half-hours only)

    def plus(self, other: HalfHour) -> HalfHour:
        """Two queues' sums of the same half-hour (a site's queues), added (not agents:
        the same agent may answer in both)."""
        return replace(self, arrivals=self.arrivals + other.arrivals,
                       answered=self.answered + other.answered,
                       talk_seconds=self.talk_seconds + other.talk_seconds,
                       talked=self.talked + other.talked,
                       abandoned=self.abandoned + other.abandoned,
                       waited_seconds=self.waited_seconds + other.waited_seconds,
                       callback_seconds=self.callback_seconds + other.callback_seconds)


@dataclass(frozen=True)
class CapacityModel:
    """What N weeks of one queue's history (None: every queue) say to staff by."""

    queue: str | None
    weeks: int
    first: datetime  # the window, council-local: [first, end)
    end: datetime
    arrivals: tuple[float, ...]  # mean residents per half-hour of the week, SLOTS long
    callback_seconds: tuple[float, ...]  # mean agent-seconds on callbacks per slot
    handling_seconds: float | None  # mean talk time; None: nothing answered
    patience_seconds: float | None  # mean patience; None: nobody abandoned
    calls: int  # residents queued in the window
    abandoned: int
    agents_last_week: Mapping[int, int] = field(default_factory=dict)  # slot -> agents

    def rate(self, slot: int) -> float:
        """Arrivals per second in ``slot``."""
        return self.arrivals[slot] / SLOT_SECONDS

    def callback_erlangs(self, slot: int) -> float:
        return self.callback_seconds[slot] / SLOT_SECONDS


def learn(queue: str | None, history: Iterable[HalfHour], last_week: Iterable[HalfHour],
          first: datetime, weeks: int, tz: ZoneInfo) -> CapacityModel:
    """The model of ``weeks`` whole weeks of history starting at local ``first``."""
    arrivals, callbacks = [0.0] * SLOTS, [0.0] * SLOTS
    talk, talked, abandoned, waited, calls = 0.0, 0, 0, 0.0, 0
    for h in history:
        slot = slot_of(h.start.astimezone(tz))
        arrivals[slot] += h.arrivals / weeks
        callbacks[slot] += h.callback_seconds / weeks
        talk, talked = talk + h.talk_seconds, talked + h.talked
        abandoned, waited, calls = abandoned + h.abandoned, waited + h.waited_seconds, \
            calls + h.arrivals
    agents: dict[int, int] = {}
    for h in last_week:
        slot = slot_of(h.start.astimezone(tz))
        agents[slot] = max(agents.get(slot, 0), h.agents)  # DST: two UTC half-hours, one slot
    return CapacityModel(
        queue, weeks, first, first + timedelta(weeks=weeks), tuple(arrivals), tuple(callbacks),
        talk / talked if talked else None,
        waited / abandoned if abandoned and waited > 0 else None,
        calls, abandoned, agents)
