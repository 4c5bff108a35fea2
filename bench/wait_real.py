"""Accuracy of the estimated wait on a real burst (issue #14): the test harness's Asterisk 22,
sipp residents and agents, the service in-process. bench/wait_estimate.py replays simulated
days; this is the same measure on what a real PBX does.

    .venv/bin/python bench/wait_real.py [--callers 24] [--gap 2.5] [--seed 1]   (as root)

Three agents whose phones talk 4, 7 and 10 s (ring 1 s); ``--callers`` residents arrive at
random (exponential gaps of mean ``--gap`` s: more than the agents can answer, so the queue
grows) and dial 2006, the product's path with the wait said on joining, which the service
answers (CallcentreWaitQuery). The queue's recent handling time is seeded with the agents'
talk times (a fresh database has no history) and learns from each answered call after.

For every resident answered: the service's estimate as told (services/waits.py) and the
naive one at the same moment from the same inputs (position x mean handling time / agents
serving: the reference) against the wait they had (answered less told, the service's own
measure). Printed: residents measured, median and 90th-percentile absolute error of each,
and ours / naive (below 1: ours is closer).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from wait_estimate import p90  # bench/, beside this script

from callcentre.app import Service
from callcentre.domain.waits import WaitAsked, WaitTold, naive_wait, position_among
from callcentre.ports import CallQuery
from tests.asterisk import scenarios
from tests.asterisk.harness import AsteriskHarness, Caller
from tests.integration.test_calls_real import config_for, started

TALK_S = (4.0, 7.0, 10.0)  # agent1..3
QUEUE = "council"
Told = dict[str, tuple[float, float, float | None]]  # linkedid -> (at, ours, naive)


def record(svc: Service, told: Told) -> None:
    """Wrap the service's estimate: keep what it told and the naive figure beside it."""
    estimate = svc.waits.estimate

    async def recording(event: WaitAsked) -> WaitTold | None:
        position = event.position or position_among(svc.waits.queued(event.queue),
                                                     event.linkedid)
        serving, _ = svc.waits.serving(event.queue)
        naive = naive_wait(position, serving, svc.waits.recent.mean(event.queue, None))
        answer = await estimate(event)
        if answer is not None:
            told[event.linkedid] = (answer.at.timestamp(), answer.estimate, naive)
        return answer

    svc.waits.estimate = recording  # type: ignore[method-assign]


def arrive(asterisk: AsteriskHarness, callers: int, gap: float, seed: int) -> None:
    """The agents' phones up; the residents one by one at random; back once all are done."""
    rng = random.Random(seed)
    phones = [p for name, talk in zip(asterisk.agents, TALK_S, strict=True)
              for p in asterisk.start_phones(1.0, talk, [name])]
    with scenarios.calls_up(asterisk, phones) as residents:
        for i in range(callers):
            caller = Caller(asterisk.next_number(), f"WAITBENCH-{i}", dial="2006",
                            hangup_after_s=600)
            residents.extend(asterisk.start_callers([caller]))
            time.sleep(rng.expovariate(1 / gap))
        asterisk.wait_callers(residents, 900)
        asterisk.wait_idle()


def errors(told: Told, answered: dict[str, float]) -> tuple[list[float], list[float]]:
    ours, naive = [], []
    for linkedid, (at, estimate, reference) in told.items():
        if linkedid in answered and reference is not None:
            had = max(0.0, answered[linkedid] - at)
            ours.append(abs(estimate - had))
            naive.append(abs(reference - had))
    return ours, naive


async def run(asterisk: AsteriskHarness, args: argparse.Namespace, tmp: Path) -> None:
    cfg = replace(config_for(asterisk, tmp / "cc.sqlite3"), log_level="WARNING")
    told: Told = {}
    async with Service(cfg).running() as svc:
        await started(svc)
        for talk in TALK_S * 2:  # as if seen live: a fresh database has no history
            svc.waits.recent.add(QUEUE, talk)
        record(svc, told)
        began = time.perf_counter()
        await asyncio.to_thread(arrive, asterisk, args.callers, args.gap, args.seed)
        took = time.perf_counter() - began
        await svc.calllog.flush()
        calls = (await svc.calls.find(CallQuery(limit=1000))).items
    answered = {c.linkedid: c.answered_at.timestamp() for c in calls if c.answered_at}
    ours, naive = errors(told, answered)
    if not ours:
        raise SystemExit(f"no resident was told a wait and answered ({len(told)} told)")
    print(f"real burst: {args.callers} residents, mean gap {args.gap} s, agents talking "
          f"{'/'.join(f'{t:g}' for t in TALK_S)} s; {took:.0f} s; {len(ours)} told and answered")
    for name, values in (("ours", ours), ("naive (position x handling / agents)", naive)):
        print(f"  {name:38} median {statistics.median(values):6.1f} s   p90 {p90(values):6.1f} s")
    print(f"  ours / naive: median {statistics.median(ours) / max(statistics.median(naive), 1e-9):.2f}"
          f"   p90 {p90(ours) / max(p90(naive), 1e-9):.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--callers", type=int, default=24)
    parser.add_argument("--gap", type=float, default=2.5)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with AsteriskHarness() as asterisk, tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(asterisk, args, Path(tmp)))


if __name__ == "__main__":
    main()
