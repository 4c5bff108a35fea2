"""One supervisor for every long-running task (app.py starts each through it).

A task that raises an unexpected exception is started again after a back-off (0.5 s
doubling to 30 s, jittered; back to 0.5 s once it has run a minute without failing),
its restarts are counted by name (``callcentre_task_restarts_total{task}``), the failure
is logged with its traceback, at most once a minute per task with the count held back,
and ``/healthz`` says degraded while a task has failed within the last five minutes.
A task that returns is done; cancellation (shutdown) is never caught.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from callcentre.domain.live import TaskHealth
from callcentre.domain.ratelimit import LogBudget

log = logging.getLogger("callcentre.tasks")

TaskFactory = Callable[[], Awaitable[object]]


@dataclass(frozen=True)
class Backoff:
    initial: float = 0.5
    maximum: float = 30.0
    healthy_after: float = 60.0  # a run this long without failing starts the back-off again
    recent: float = 300.0  # a failure this recent makes /healthz degraded

    def delay(self, failures: int, rng: random.Random) -> float:
        step: float = self.initial * 2.0 ** min(failures - 1, 32)
        return min(self.maximum, step) * rng.uniform(0.5, 1)


class Supervisor:
    def __init__(self, backoff: Backoff | None = None,
                 monotonic: Callable[[], float] = time.monotonic,
                 rng: random.Random | None = None) -> None:
        self._backoff = backoff or Backoff()
        self._now = monotonic
        self._rng = rng or random.Random()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._restarts: dict[str, int] = {}
        self._failed: dict[str, tuple[float, str]] = {}  # name -> (when, what)
        self._budget = LogBudget(60.0)

    def start(self, name: str, factory: TaskFactory) -> asyncio.Task[None]:
        """Run ``factory()`` as task ``name``, again after each unexpected exception.
        A task of that name still running is cancelled first (e.g. a resync per connect)."""
        old = self._tasks.get(name)
        if old is not None and not old.done():
            old.cancel()
        self._restarts.setdefault(name, 0)
        task = asyncio.get_running_loop().create_task(self._keep(name, factory), name=name)
        self._tasks[name] = task
        return task

    async def _keep(self, name: str, factory: TaskFactory) -> None:
        failures = 0
        while True:
            started = self._now()
            try:
                await factory()
                return
            except Exception as err:
                ran = self._now() - started
                failures = 1 if ran >= self._backoff.healthy_after else failures + 1
                delay = self._backoff.delay(failures, self._rng)
                self._failed_once(name, err, ran, delay)
                await asyncio.sleep(delay)

    def _failed_once(self, name: str, err: Exception, ran: float, delay: float) -> None:
        self._restarts[name] += 1
        self._failed[name] = (self._now(), f"{type(err).__name__}: {err}")
        held = self._budget.allow(name, self._now())
        if held is None:
            return
        more = f", {held} more failures since the last report" if held else ""
        log.error("task %s failed after running %.1f s (restart %d%s); starting it again "
                  "in %.1f s", name, ran, self._restarts[name], more, delay, exc_info=err)

    def report(self) -> dict[str, TaskHealth]:
        now = self._now()
        out = {}
        for name, restarts in sorted(self._restarts.items()):
            when, what = self._failed.get(name, (None, None))
            age = None if when is None else now - when
            out[name] = TaskHealth(restarts, age is not None and age < self._backoff.recent,
                                   what, age)
        return out

    async def stop(self, *names: str) -> None:
        """Cancel the named tasks (all when none is named) and wait for them."""
        tasks = [t for n, t in self._tasks.items() if not names or n in names]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
