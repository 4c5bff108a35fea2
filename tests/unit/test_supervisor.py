"""The supervisor: restarts with back-off, counts, logs once a minute, never eats a cancel."""

from __future__ import annotations

import asyncio
import logging
import random

import pytest

from callcentre.services.supervisor import Backoff, Supervisor


async def test_a_failing_task_is_restarted_counted_and_logged_once_a_minute(
        caplog: pytest.LogCaptureFixture) -> None:
    runs = 0

    async def flaky() -> None:
        nonlocal runs
        runs += 1
        if runs <= 5:
            raise ValueError(f"bad value {runs}")
        await asyncio.sleep(3600)

    sup = Supervisor(Backoff(initial=0.001, maximum=0.004), rng=random.Random(1))
    with caplog.at_level(logging.ERROR, "callcentre.tasks"):
        sup.start("calllog", flaky)
        for _ in range(500):
            await asyncio.sleep(0.002)
            if runs == 6:
                break
    report = sup.report()["calllog"]
    assert (runs, report.restarts, report.failing) == (6, 5, True)
    assert report.last_error == "ValueError: bad value 5"
    errors = [r for r in caplog.records if r.name == "callcentre.tasks"]
    assert len(errors) == 1 and errors[0].exc_info is not None  # the rest held back
    await sup.stop()
    assert sup.report()["calllog"].restarts == 5


async def test_back_off_doubles_to_its_maximum() -> None:
    b, rng = Backoff(initial=0.5, maximum=30), random.Random(0)
    delays = [b.delay(n, rng) for n in range(1, 10)]
    assert 0.25 <= delays[0] <= 0.5 and all(d <= 30 for d in delays)
    assert delays[-1] >= 15


async def test_cancellation_is_not_a_failure() -> None:
    sup = Supervisor()
    started = asyncio.Event()

    async def forever() -> None:
        started.set()
        await asyncio.sleep(3600)

    task = sup.start("dialler", forever)
    await started.wait()
    await sup.stop("dialler")
    assert task.cancelled() and sup.report()["dialler"].restarts == 0


async def test_starting_a_name_again_replaces_the_running_one() -> None:
    sup = Supervisor()
    first = sup.start("resync", lambda: asyncio.sleep(3600))
    second = sup.start("resync", lambda: asyncio.sleep(0))
    await second
    await asyncio.sleep(0)
    assert first.cancelled()
