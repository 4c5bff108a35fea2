"""Deadlines that can be kept: a new callback's ``due_by`` sized to the capacity expected.

Pure: the capacity model's numbers, the callbacks already promised and the moment come in as
arguments. The method (README "Deadlines sized to capacity"):

1. **Spare agents per half-hour of the week** (``spare_agents``): the agents expected on
   duty (how many different agents answered calls in that half-hour last week, the model's
   lower bound of who was logged in) less the agents the inbound load needs to meet the
   answer standard (Erlang A, as the staffing advice); never below 0. Callback work is
   kept to what is left, so it never costs residents in the queue their standard.
2. **Spare agent-seconds from now**, counted only inside calling hours, on a 5-minute grid:
   ``C(t)``.
3. **The backlog in deadline order**: the callbacks already promised are served earliest
   deadline first, as the dialler does. ``k`` callbacks take ``w`` agent-seconds each
   (mean talk time + ``DIAL_OVERHEAD_SECONDS``); with exponential handling their total
   has mean ``k w`` and standard deviation ``sqrt(k) w``, so with confidence ``p`` they
   need ``w (k + z_p sqrt(k))`` (normal approximation, ``z_p`` its ``p``-quantile).
4. The new callback's deadline is the earliest grid time ``t`` at or after the **floor**
   at which ``C(t - slack)`` covers it and every callback due by ``t``, and no later
   promise that could be kept stops being keepable because of it; the **ceiling** when
   none before it. ``slack`` (the policy's first retry spacing) leaves room for a second
   attempt when the first finds nobody (a quarter of attempts or so).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from statistics import NormalDist

from callcentre.domain.capacity import SLOTS, CapacityModel, slot_of
from callcentre.domain.deadlines import spans_from
from callcentre.domain.erlang import agents_needed
from callcentre.domain.hours import OpeningHours
from callcentre.domain.staffing import MOST_AGENTS, Standard

DIAL_OVERHEAD_SECONDS = 60.0  # agent's phone rings, the resident's rings, "press 1"
STEP = timedelta(minutes=5)  # the grid deadlines fall on


def spare_agents(model: CapacityModel, standard: Standard) -> tuple[float, ...] | None:
    """Agents free for callbacks per half-hour of the week (SLOTS long), after the inbound
    load at the answer standard; None when the history says nothing to size by (nothing
    answered, or no agent recorded last week): then the fixed rule applies."""
    if not model.handling_seconds or not any(model.agents_last_week.values()):
        return None
    mu = 1.0 / model.handling_seconds
    theta = 1.0 / model.patience_seconds if model.patience_seconds else None
    spare = []
    for slot in range(SLOTS):
        had = model.agents_last_week.get(slot, 0)
        lam = model.rate(slot)
        need = (agents_needed(lam, mu, theta, standard.threshold, standard.target,
                              MOST_AGENTS) if had and lam > 0 else 0)
        spare.append(float(max(0, had - (had if need is None else need))))
    return tuple(spare)


def work_seconds(model: CapacityModel) -> float:
    """Agent-seconds one callback takes: the mean talk time and the dialling around it."""
    return (model.handling_seconds or 0.0) + DIAL_OVERHEAD_SECONDS


@dataclass(frozen=True, slots=True)
class Capacity:
    """What the sizing needs of the model: spare agents per slot, one callback's work."""

    spare: Sequence[float]  # SLOTS long
    work: float  # agent-seconds per callback
    confidence: float  # e.g. 0.9: the deadline is kept at least this often (by the model)
    # room left before each deadline for a second attempt (the policy's first retry
    # spacing): a first attempt that finds no one does not break the promise by itself
    slack: timedelta = timedelta(0)

    def demand(self, k: int) -> float:
        """Agent-seconds ``k`` callbacks need, with the safety margin for the confidence."""
        if k <= 0:
            return 0.0
        z = NormalDist().inv_cdf(min(max(self.confidence, 0.5), 0.9999))
        return self.work * (k + z * math.sqrt(k))


def _grid(now: datetime, until: datetime) -> list[datetime]:
    """5-minute boundaries after ``now`` up to ``until`` (and ``until`` itself)."""
    epoch = datetime(2000, 1, 1, tzinfo=UTC)
    first = epoch + STEP * (math.floor((now - epoch) / STEP) + 1)
    points = []
    while first < until:
        points.append(first)
        first += STEP
    return [*points, until]


def _open_spans(calling: OpeningHours, now: datetime,
                until: datetime) -> list[tuple[datetime, datetime]]:
    spans = []
    for start, end in spans_from(calling, now):
        if start >= until:
            break
        spans.append((start, min(end, until)))
    return spans


def capacity_curve(capacity: Capacity, calling: OpeningHours, now: datetime,
                   until: datetime) -> tuple[list[datetime], list[float]]:
    """Grid times after ``now`` up to ``until`` and the spare agent-seconds from now to each."""
    spans = _open_spans(calling, now, until) if until > now else []
    times, totals, total, before = [], [], 0.0, now
    for t in _grid(now, until) if until > now else []:
        open_s = sum(max(0.0, (min(e, t) - max(s, before)).total_seconds()) for s, e in spans)
        if open_s:
            total += capacity.spare[slot_of(before.astimezone(calling.tz))] * open_s
        times.append(t)
        totals.append(total)
        before = t
    return times, totals


def _at(times: list[datetime], totals: list[float], t: datetime) -> float:
    """Spare agent-seconds by ``t``: the last grid value at or before it (conservative)."""
    i = bisect_right(times, t)
    return totals[i - 1] if i else 0.0


def keepable_due(capacity: Capacity, calling: OpeningHours, now: datetime,
                 backlog: Sequence[datetime], floor: datetime, ceiling: datetime) -> datetime:
    """The earliest deadline from ``floor`` to ``ceiling`` that a new callback will be kept
    by, with ``capacity.confidence``, behind ``backlog`` (the open callbacks' deadlines)."""
    if ceiling <= floor:
        return ceiling
    times, totals = capacity_curve(capacity, calling, now, ceiling)
    dues = sorted(d for d in backlog if d <= ceiling)
    # a later promise that can be kept now and could not be with one more before it
    broken = [False] * (len(dues) + 1)
    slack = capacity.slack
    for j in range(len(dues) - 1, -1, -1):
        k = bisect_right(dues, dues[j])
        have = _at(times, totals, dues[j] - slack)
        broken[j] = broken[j + 1] or (have >= capacity.demand(k) > 0 and
                                      have < capacity.demand(k + 1))
    for t in [floor, *(x for x in times if x > floor)]:
        m = bisect_right(dues, t)
        if _at(times, totals, t - slack) >= capacity.demand(m + 1) and not broken[m]:
            return t
    return ceiling
