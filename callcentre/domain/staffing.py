"""Staffing advice: agents needed per half-hour of the coming week, from a capacity model.

Pure. For each half-hour: the fewest agents on the queue whose expected service level
(answered within the threshold ÷ offered, the council's own definition) meets the target,
by Erlang A where residents give up (Erlang C where nobody did), **plus** one agent per
started Erlang of callback work expected then (callbacks kept as work of their own: the
conservative reading until callbacks are blended into idle time). Beside it, the agents who
answered calls in that half-hour last week and the service level those would give; and a
"what if" for the busiest half-hour: agents -> service level, abandons and mean wait.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from callcentre.domain.capacity import SLOTS_PER_DAY, CapacityModel, slot_of
from callcentre.domain.erlang import Outlook, agents_needed, outlook

MOST_AGENTS = 5000
WHAT_IF_BELOW, WHAT_IF_ABOVE = 4, 3  # the "what if" rows around the agents needed


@dataclass(frozen=True, slots=True)
class Standard:
    """The answer standard staffing aims at: ``target`` answered within ``threshold`` s."""

    threshold: int
    target: float


@dataclass(frozen=True, slots=True)
class SlotAdvice:
    start: datetime  # council-local
    slot: int
    calls: float  # residents expected in the half-hour
    inbound: int | None  # agents for the answer standard; None: more than MOST_AGENTS
    callbacks: int  # agents for the callback work expected
    had: int | None  # agents who answered calls then last week; None: none recorded
    had_outlook: Outlook | None  # what ``had`` agents would give this week's calls

    @property
    def needed(self) -> int | None:
        return None if self.inbound is None else self.inbound + self.callbacks


@dataclass(frozen=True)
class StaffingAdvice:
    model: CapacityModel
    standard: Standard
    first_day: date  # the coming week: [first_day, first_day + 7 days)
    slots: list[SlotAdvice]  # the half-hours with calls or callbacks expected, in order
    busiest: SlotAdvice | None
    what_if: list[Outlook]  # the busiest half-hour, by agents

    def days(self) -> list[tuple[date, list[SlotAdvice]]]:
        """The half-hours grouped by local day, every day of the week (maybe empty)."""
        return [(day, [s for s in self.slots if s.start.date() == day])
                for day in (self.first_day + timedelta(days=i) for i in range(7))]


def _starts(first_day: date, tz: ZoneInfo) -> list[datetime]:
    """Every half-hour of the local week by the wall clock (a DST day keeps 48 labels)."""
    return [datetime.combine(first_day + timedelta(days=d), time(h // 2, (h % 2) * 30), tz)
            for d in range(7) for h in range(SLOTS_PER_DAY)]


def _mu(model: CapacityModel) -> float | None:
    return 1.0 / model.handling_seconds if model.handling_seconds else None


def _theta(model: CapacityModel) -> float | None:
    return 1.0 / model.patience_seconds if model.patience_seconds else None


def slot_advice(model: CapacityModel, start: datetime, standard: Standard) -> SlotAdvice:
    slot = slot_of(start)
    lam, mu, theta = model.rate(slot), _mu(model), _theta(model)
    had = model.agents_last_week.get(slot)
    inbound: int | None = 0
    had_outlook: Outlook | None = None
    if mu is not None and lam > 0.0:
        inbound = agents_needed(lam, mu, theta, standard.threshold, standard.target,
                                MOST_AGENTS)
        had_outlook = (outlook(had, lam, mu, theta, standard.threshold) if had else None)
    callbacks = math.ceil(model.callback_erlangs(slot) - 1e-9)
    return SlotAdvice(start, slot, model.arrivals[slot], inbound, callbacks, had, had_outlook)


def what_if(model: CapacityModel, advice: SlotAdvice, standard: Standard) -> list[Outlook]:
    """Agents around the number needed in ``advice``'s half-hour -> what they would give."""
    mu = _mu(model)
    lam = model.rate(advice.slot)
    if mu is None or lam <= 0.0 or advice.inbound is None:
        return []
    low = max(1, advice.inbound - WHAT_IF_BELOW)
    return [outlook(n, lam, mu, _theta(model), standard.threshold)
            for n in range(low, advice.inbound + WHAT_IF_ABOVE + 1)]


def advise(model: CapacityModel, first_day: date, tz: ZoneInfo,
           standard: Standard) -> StaffingAdvice:
    """Advice for the local week starting ``first_day``."""
    slots = [slot_advice(model, start, standard) for start in _starts(first_day, tz)]
    busy = [s for s in slots if s.calls > 0 or s.callbacks > 0]
    busiest = max(busy, key=lambda s: (s.calls, -s.slot), default=None)
    return StaffingAdvice(model, standard, first_day, busy, busiest,
                          what_if(model, busiest, standard) if busiest else [])


def next_monday(today: date) -> date:
    """The coming week starts on the next Monday (today's week is under way)."""
    return today + timedelta(days=7 - today.weekday())
