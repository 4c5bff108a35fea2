"""Kept ratio under overload: fixed-rule deadlines against deadlines sized to capacity.

    .venv/bin/python bench/promises.py [--seeds 5] [--agents 12] [--load 1.2] [--confidence 0.9]

A small discrete-event simulation (standard library: heapq, random), the same seeded arrivals
for both ways of promising. The packaged default policy (opening 08:30-17:00, calling hours
09:00-19:00, give up 8 working hours after the deadline, at most 3 attempts 30 / 120 min
apart), agents on duty 08:30-17:00 on weekdays, blended as the dialler does: a free agent
takes a resident in the queue first, a callback when nobody waits, or a callback due within
30 min whatever the queue.

* **History** (what the capacity model was learned from): the inbound load the agents but two
  answer at 80 % in 20 s (the staffing advice: inbound agents + callback agents), 240 s talk,
  120 s mean patience, ``--agents`` agents logged in.
* **Monday 23 November 2026**: residents arrive at ``--load`` times what all the agents can
  handle (1.2: 120 % of capacity); Tuesday to Thursday as the history says.
* Residents give up after an exponential patience; one who waited 30 s or more becomes an
  ``abandoned`` callback (half have a presentable number); a quarter of those still waiting
  at 60 s press the callback key (``queue_keypress``); 5 % of answered calls end with an
  ``agent`` promise. A callback attempt takes an agent 60 s, and reaches the resident 75 %
  of the time (then 240 s of talk on average); retried as the policy says.
* Each promise's deadline: the policy's fixed rule (``fixed``: 4 working hours for agents'
  and keypress promises, the end of the next working day for abandoned calls), one fixed
  rule for every source (``fixed-short``, ``--short``: 4 working hours), or ``keepable_due`` (the service's sizing:
  spare agents from the model, the open callbacks' deadlines, the policy's floor and ceiling).

Printed per seed and in all, for each way: kept / late / missed of the callbacks promised on Monday (the
overloaded day), the kept ratio (kept / (kept + late + missed)), its ratio to the policy's
fixed rule, the mean promise (hours from the request), and the sizing's cost per promise.
"""

from __future__ import annotations

import argparse
import heapq
import math
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from callcentre.domain.callback_policy import CallbackPolicy, Source
from callcentre.domain.capacity import SLOT_SECONDS, SLOTS, CapacityModel
from callcentre.domain.deadlines import parse_rule
from callcentre.domain.erlang import agents_needed
from callcentre.domain.promises import Capacity, keepable_due, spare_agents, work_seconds
from callcentre.domain.staffing import Standard
from callcentre.testing import default_policy

LONDON = ZoneInfo("Europe/London")
MONDAY = datetime(2026, 11, 23, tzinfo=LONDON)
DAYS = 4  # Monday to Thursday; callbacks still open at the end count as missed
TALK, PATIENCE, OVERHEAD = 240.0, 120.0, 60.0
STANDARD = Standard(20, 0.8)
MARGIN = 1800.0  # blending: a callback due within this is dialled whatever the queue


def on_duty(at: datetime) -> bool:
    local = at.astimezone(LONDON)
    minutes = local.hour * 60 + local.minute
    return local.weekday() < 5 and 8 * 60 + 30 <= minutes < 17 * 60


def normal_rate(agents: int) -> float:
    """Arrivals per second that ``agents - 2`` answer at the standard (the history's)."""
    lam = 0.0001
    while agents_needed(lam * 1.01, 1 / TALK, 1 / PATIENCE, STANDARD.threshold,
                        STANDARD.target) <= agents - 2:
        lam *= 1.01
    return lam


def history_capacity(agents: int, lam: float, confidence: float,
                     slack: timedelta) -> Capacity:
    """What the capacity model learned from weeks like Tuesday's says."""
    arrivals, had = [0.0] * SLOTS, {}
    for s in range(SLOTS):
        start = MONDAY + timedelta(seconds=s * SLOT_SECONDS)
        if on_duty(start):
            arrivals[s], had[s] = lam * SLOT_SECONDS, agents
    model = CapacityModel(None, 6, MONDAY, MONDAY, tuple(arrivals), (0.0,) * SLOTS, TALK,
                          PATIENCE, 0, 0, had)
    spare = spare_agents(model, STANDARD)
    assert spare is not None
    return Capacity(spare, work_seconds(model), confidence, slack)  # work: talk + OVERHEAD


@dataclass
class Promise:
    source: Source
    created: float
    due: float
    attempts: int = 0
    ready: float = 0.0
    result: str | None = None  # kept, late, missed


@dataclass(order=True)
class Event:
    at: float
    seq: int
    kind: str = field(compare=False)
    who: object = field(compare=False, default=None)


def arrivals(seed: int, lam_monday: float, lam_normal: float) -> list[tuple[float, float, float,
                                                                             float]]:
    """Seeded residents: (arrival s, patience s, talk s, a draw for what they do)."""
    rng = random.Random(seed)
    out = []
    for day in range(DAYS):
        lam = lam_monday if day == 0 else lam_normal
        t = (MONDAY + timedelta(days=day, hours=8, minutes=30)).timestamp()
        end = (MONDAY + timedelta(days=day, hours=17)).timestamp()
        while True:
            t += rng.expovariate(lam)
            if t >= end:
                break
            out.append((t, rng.expovariate(1 / PATIENCE), rng.expovariate(1 / TALK),
                        rng.random()))
    return out


def dt(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


class Day:
    """One run: the residents, the agents, the callbacks; ``promise`` sets each deadline."""

    def __init__(self, agents: int, policy: CallbackPolicy, seed: int,
                 promise: Callable[[Day, Source, float], float]) -> None:
        self.free, self.policy, self.seed, self.promise = agents, policy, seed, promise
        self.events: list[Event] = []
        self.queue: dict[int, float] = {}  # resident -> joined (FIFO by insertion)
        self.callbacks: list[Promise] = []
        self.seq = 0
        self.sizing: list[float] = []

    def at(self, t: float, kind: str, who: object = None) -> None:
        self.seq += 1
        heapq.heappush(self.events, Event(t, self.seq, kind, who))

    def run(self, people: list[tuple[float, float, float, float]]) -> None:
        for i, (t, patience, _talk, _draw) in enumerate(people):
            self.at(t, "arrive", i)
            self.at(t + patience, "give_up", i)
            self.at(t + 60, "keypress", i)
        for day in range(DAYS):  # agents start: dispatch what is ready
            self.at((MONDAY + timedelta(days=day, hours=8, minutes=30)).timestamp(), "tick")
        end = (MONDAY + timedelta(days=DAYS)).timestamp()
        while self.events and self.events[0].at < end:
            e = heapq.heappop(self.events)
            self.handle(e, people)
            self.dispatch(e.at, people)
        for cb in self.callbacks:
            cb.result = cb.result or "missed"

    def handle(self, e: Event, people: list[tuple[float, float, float, float]]) -> None:
        i = e.who if isinstance(e.who, int) else -1
        if e.kind == "arrive":
            self.queue[i] = e.at
        elif e.kind == "give_up" and i in self.queue:
            waited = e.at - self.queue.pop(i)
            if waited >= 30 and people[i][3] < 0.5:
                self.new_callback(Source.ABANDONED, e.at)
        elif e.kind == "keypress" and i in self.queue and people[i][3] > 0.75:
            self.queue.pop(i)
            self.new_callback(Source.QUEUE_KEYPRESS, e.at)
        elif e.kind == "done":
            self.free += 1
            if 0.5 <= people[i][3] < 0.55:
                self.new_callback(Source.AGENT, e.at)
        elif e.kind == "attempt_done":
            self.free += 1
            assert isinstance(e.who, tuple)
            self.attempted(e.who[0], e.who[1], e.at)

    def new_callback(self, source: Source, t: float) -> None:
        started = time.perf_counter()
        due = self.promise(self, source, t)
        self.sizing.append(time.perf_counter() - started)
        cb = Promise(source, t, due, ready=self.policy.callable_from(dt(t)).timestamp())
        self.callbacks.append(cb)
        self.at(cb.ready, "tick")

    def attempted(self, cb: Promise, reached: bool, t: float) -> None:
        if reached:
            cb.result = "kept" if t <= cb.due else "late"
        elif cb.attempts >= self.policy.max_attempts:
            cb.result = "missed"
        else:
            cb.ready = self.policy.retry_at(cb.attempts, dt(t)).timestamp()
            self.at(cb.ready, "tick")

    def dispatch(self, t: float, people: list[tuple[float, float, float, float]]) -> None:
        while self.free > 0 and on_duty(dt(t)):
            ready = self.ready(t)
            urgent = [cb for cb in ready if t >= cb.due - MARGIN]
            if urgent or (ready and not self.queue):
                self.dial(min(urgent or ready, key=lambda c: c.due), t)
            elif self.queue:
                i = next(iter(self.queue))
                del self.queue[i]
                self.free -= 1
                self.at(t + people[i][2], "done", i)
            else:
                return

    def ready(self, t: float) -> list[Promise]:
        calling = self.policy.calling
        if not calling.is_open(dt(t)):
            return []
        out = []
        for cb in self.callbacks:
            if cb.result is None and cb.ready <= t and cb.attempts < self.policy.max_attempts:
                if t > self.policy.give_up_at(dt(cb.due)).timestamp():
                    cb.result = "missed"
                else:
                    out.append(cb)
        return out

    def dial(self, cb: Promise, t: float) -> None:
        cb.attempts += 1
        cb.ready = math.inf
        self.free -= 1
        rng = random.Random(f"{self.seed}-{cb.created}-{cb.attempts}")
        reached = rng.random() < 0.75
        busy = OVERHEAD + (rng.expovariate(1 / TALK) if reached else 0.0)
        self.at(t + busy, "attempt_done", (cb, reached))

    def open_dues(self) -> list[datetime]:
        return [dt(cb.due) for cb in self.callbacks if cb.result is None]


def fixed(day: Day, source: Source, t: float) -> float:
    return day.policy.due_for(source, dt(t)).timestamp()


def sized(capacity: Capacity) -> Callable[[Day, Source, float], float]:
    def promise(day: Day, source: Source, t: float) -> float:
        floor, ceiling = day.policy.bounds_for(source, dt(t))
        return keepable_due(capacity, day.policy.calling, dt(t), day.open_dues(), floor,
                            ceiling).timestamp()
    return promise


def figures(day: Day) -> tuple[int, int, int, float]:
    monday_end = (MONDAY + timedelta(days=1)).timestamp()
    mine = [cb for cb in day.callbacks if cb.created < monday_end]
    kept, late, missed = (sum(cb.result == r for cb in mine) for r in ("kept", "late", "missed"))
    hours = statistics.fmean((cb.due - cb.created) / 3600 for cb in mine) if mine else 0.0
    return kept, late, missed, hours


def ratio(kept: int, late: int, missed: int) -> float:
    return kept / (kept + late + missed) if kept + late + missed else 0.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--agents", type=int, default=12)
    ap.add_argument("--load", type=float, default=1.2)
    ap.add_argument("--confidence", type=float, default=0.9)
    ap.add_argument("--short", default="within 4 working hours",
                    help="fixed-short: this one rule for every source")
    a = ap.parse_args()
    policy = replace(default_policy(), confidence=a.confidence)
    lam = normal_rate(a.agents)
    capacity = history_capacity(a.agents, lam, a.confidence, policy.retry_spacing[0])
    lam_monday = a.load * a.agents / TALK
    print(f"agents {a.agents}; history {lam * 1800:.0f} calls a half-hour "
          f"({lam * TALK:.1f} erlangs); Monday {lam_monday * 1800:.0f} "
          f"({lam_monday * TALK:.1f} erlangs, {a.load:.0%} of capacity); spare agents in "
          f"the history's open half-hours {max(capacity.spare):.0f}")
    short = replace(policy, promise={s: parse_rule(a.short) for s in Source})
    ways = (("fixed", policy, fixed), ("fixed-short", short, fixed),
            ("sized", policy, sized(capacity)))
    totals = {name: [0, 0, 0] for name, _, _ in ways}
    hours_all: dict[str, list[float]] = {name: [] for name, _, _ in ways}
    cost: list[float] = []
    for seed in range(a.seeds):
        people = arrivals(seed, lam_monday, lam)
        line = [f"seed {seed}: {len(people)} residents"]
        for name, rules, rule in ways:
            day = Day(a.agents, rules, seed, rule)
            day.run(people)
            kept, late, missed, hours = figures(day)
            totals[name] = [x + y for x, y in zip(totals[name], (kept, late, missed),
                                                   strict=True)]
            hours_all[name].append(hours)
            if name == "sized":
                cost += day.sizing
            line.append(f"{name} kept/late/missed {kept}/{late}/{missed} "
                        f"({ratio(kept, late, missed):.1%}, promise {hours:.1f} h)")
        print("; ".join(line))
    f = ratio(*totals["fixed"])
    for name, _, _ in ways:
        r = ratio(*totals[name])
        print(f"all seeds, {name}: kept/late/missed {'/'.join(map(str, totals[name]))}, "
              f"kept ratio {r:.1%} ({r / f if f else 0:.2f}x the policy's fixed rule), "
              f"mean promise {statistics.fmean(hours_all[name]):.1f} h")
    print(f"sizing a promise: p50 {statistics.median(cost) * 1000:.2f} ms, "
          f"p99 {sorted(cost)[int(len(cost) * 0.99)] * 1000:.2f} ms over {len(cost)}")


if __name__ == "__main__":
    main()
