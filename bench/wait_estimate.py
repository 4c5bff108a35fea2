"""Accuracy of the estimated wait (domain/waits.py) against the naive announcement.

    .venv/bin/python bench/wait_estimate.py [--agents 6] [--hours 8] [--seeds 5]

Replays seeded bursts through a simulation of one queue (first come first served, ``n``
agents, Poisson arrivals whose rate steps between 80 % and 130 % of what the agents can
answer every 20 minutes, patience exponential: residents give up). At each resident's join
both estimates are made from what the service would know then:

  ours       expected_wait(position, QueueNow(agents, free now, handling, patience, lag)),
             as the service does: handling and lag as the waits residents had teach them
             (WaitLearning), until then the mean talk time of the last 20 answered calls
             (RecentHandling); patience = the mean the capacity model would have learnt
             (the simulation's own)
  naive      reference: position x mean talk time / agents (the same talk time)

(and ours without the patience term, and ours from talk time alone, not learning from the
waits, to show what each part brings), and compared with
the wait the resident actually had until an agent answered (residents who
gave up have no such wait and are left out, as the service's error histogram leaves them
out). "who queued": only residents who found no agent free (position > free agents).
Printed per service-time law (exponential; lognormal with the same mean and a
coefficient of variation of 1.5, like real talk times): residents measured, the median and
90th-percentile absolute error of each, and ours / naive (below 1: ours is closer).
"""

from __future__ import annotations

import argparse
import heapq
import math
import random
import statistics
import sys
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from callcentre.domain.waits import (
    QueueNow,
    RecentHandling,
    WaitLearning,
    WaitTold,
    ahead_of,
    expected_wait,
    naive_wait,
)

T0 = datetime(2026, 12, 1, tzinfo=UTC)  # WaitTold's time: the simulation keeps its own
HANDLING_S = 240.0
PATIENCE_S = 300.0
STEP_S = 1200.0  # the arrival rate changes every 20 minutes
LOADS = (0.8, 1.3, 1.0, 1.3, 0.9, 1.2)


@dataclass
class Errors:
    ours: list[float] = field(default_factory=list)
    naive: list[float] = field(default_factory=list)
    no_patience: list[float] = field(default_factory=list)  # ours with theta = 0
    talk_only: list[float] = field(default_factory=list)  # ours not learning from the waits


def lognormal(rng: random.Random, mean: float, cv: float = 1.5) -> float:
    sigma2 = math.log(1 + cv * cv)
    return rng.lognormvariate(math.log(mean) - sigma2 / 2, math.sqrt(sigma2))


def estimates(position: int, agents: int, free: int, recent: RecentHandling,
              learnt: WaitLearning) -> tuple[tuple[float, float, float, float], WaitTold]:
    """Ours, naive, ours without patience and ours from talk time alone; and what the
    service keeps of ours to learn from."""
    handling = recent.mean("q", HANDLING_S) or HANDLING_S
    state = QueueNow(agents, free, learnt.handling("q", handling), PATIENCE_S, learnt.lag("q"))
    ours = expected_wait(position, state) or 0.0
    plain = expected_wait(position, replace(state, patience_seconds=None)) or 0.0
    talk = expected_wait(position, QueueNow(agents, free, handling, PATIENCE_S)) or 0.0
    return ((ours, naive_wait(position, agents, handling) or 0.0, plain, talk),
            WaitTold("q", T0, ours, None, ahead_of(position, state), agents, PATIENCE_S))


def simulate(agents: int, hours: float, seed: int,
             service: Callable[[random.Random], float], queued_only: bool) -> Errors:
    """One seeded day: every answered resident's two estimates against their wait."""
    rng = random.Random(seed)
    events: list[tuple[float, int, str, int, float]] = []  # time, order, kind, who, talk
    order = 0

    def push(at: float, kind: str, who: int, talk: float = 0.0) -> None:
        nonlocal order
        order += 1
        heapq.heappush(events, (at, order, kind, who, talk))

    t, who = 0.0, 0
    while t < hours * 3600:  # arrivals, rate stepping through LOADS
        rate = LOADS[int(t // STEP_S) % len(LOADS)] * agents / HANDLING_S
        t += rng.expovariate(rate)
        push(t, "arrive", who)
        who += 1
    waiting: OrderedDict[int, float] = OrderedDict()  # resident -> joined at
    told: dict[int, tuple[float, float, float, float]] = {}
    asked: dict[int, WaitTold] = {}
    free, recent, learnt, out = agents, RecentHandling(), WaitLearning(), Errors()
    while events:
        now, _, kind, person, talked = heapq.heappop(events)
        if kind == "arrive":
            told[person], asked[person] = estimates(len(waiting) + 1, agents, free, recent,
                                                    learnt)
            waiting[person] = now
            push(now + rng.expovariate(1 / PATIENCE_S), "give_up", person)
        elif kind == "give_up":
            waiting.pop(person, None)
            continue
        else:  # an agent is free again
            free += 1
            recent.add("q", talked)
        while free and waiting:
            resident, joined = waiting.popitem(last=False)
            free -= 1
            talk = service(rng)
            push(now + talk, "done", resident, talk)
            ours, naive, plain, talk_only = told.pop(resident)
            question = asked.pop(resident)
            learnt.learn(question, now - joined)
            if queued_only and question.ahead <= 0:
                continue  # an agent was free for them when they joined
            out.ours.append(abs(ours - (now - joined)))
            out.naive.append(abs(naive - (now - joined)))
            out.no_patience.append(abs(plain - (now - joined)))
            out.talk_only.append(abs(talk_only - (now - joined)))
    return out


def p90(values: list[float]) -> float:
    """The 90th percentile (bench/wait_real.py's too); one value is its own."""
    return statistics.quantiles(values, n=10)[-1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=6)
    parser.add_argument("--hours", type=float, default=8.0)
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    laws: dict[str, Callable[[random.Random], float]] = {
        "exponential": lambda rng: rng.expovariate(1 / HANDLING_S),
        "lognormal cv 1.5": lambda rng: lognormal(rng, HANDLING_S),
    }
    print(f"{args.agents} agents, {HANDLING_S:.0f} s mean handling, {PATIENCE_S:.0f} s mean "
          f"patience, load stepping {LOADS} every {STEP_S / 60:.0f} min, "
          f"{args.hours:g} h x {args.seeds} seeds")
    for (law_name, law), queued in [(law, q) for law in laws.items() for q in (False, True)]:
        errors = Errors()
        name = f"{law_name}, {'who queued' if queued else 'all'}"
        for seed in range(args.seeds):
            day = simulate(args.agents, args.hours, seed, law, queued)
            errors.ours += day.ours
            errors.naive += day.naive
            errors.no_patience += day.no_patience
            errors.talk_only += day.talk_only
        med = (statistics.median(errors.ours), statistics.median(errors.naive))
        tail = (p90(errors.ours), p90(errors.naive))
        print(f"{name:>28}: {len(errors.ours):5d} answered | median |error| ours {med[0]:6.1f} s"
              f"  naive {med[1]:6.1f} s  ratio {med[0] / med[1]:.2f} | p90 ours {tail[0]:6.1f} s"
              f"  naive {tail[1]:6.1f} s  ratio {tail[0] / tail[1]:.2f}")
        plain = (statistics.median(errors.no_patience), p90(errors.no_patience))
        print(f"{'':>28}  without patience (free agents still 0): median {plain[0]:6.1f} s"
              f"  p90 {plain[1]:6.1f} s")
        talk = (statistics.median(errors.talk_only), p90(errors.talk_only))
        print(f"{'':>28}  talk time only (not learning from the waits): median {talk[0]:6.1f} s"
              f"  p90 {talk[1]:6.1f} s")


if __name__ == "__main__":
    main()
