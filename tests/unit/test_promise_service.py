"""PromiseService: the capacity model and the open callbacks fed to the pure sizing, and the
fixed rule whenever there is nothing to size by."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from callcentre.domain.callback_policy import Source
from callcentre.domain.capacity import HalfHour
from callcentre.domain.cases import new_case
from callcentre.phones import normaliser
from callcentre.services.callbacks import CallbackService, NewCallback
from callcentre.services.capacity import CapacityService
from callcentre.services.promises import PromiseService
from callcentre.testing import (
    FakeClock,
    FixedCapacityHistory,
    InMemoryCallbackRepository,
    InMemoryCallRepository,
    InMemoryCaseRepository,
    default_policy,
    utc,
)

LONDON = ZoneInfo("Europe/London")
T0 = utc(2026, 11, 23, 10)  # Monday 10:00 GMT


def history(arrivals: int = 20, agents: int = 5) -> FixedCapacityHistory:
    """Six weeks of weekdays 09:00-17:00: ``arrivals`` per half-hour, 180 s each, answered
    by ``agents`` last week."""
    calls, answering = [], []
    for day in range(1, 43):
        start = datetime(2026, 11, 23, 9, tzinfo=LONDON) - timedelta(days=day)
        if start.weekday() >= 5:
            continue
        for h in range(16):
            at = (start + timedelta(minutes=30 * h)).astimezone(ZoneInfo("UTC"))
            calls.append(HalfHour(at, arrivals, arrivals, 180.0 * arrivals, arrivals))
            if day <= 7:
                answering.append(HalfHour(at, agents=agents))
    return FixedCapacityHistory({None: calls}, {None: answering})


class World:
    def __init__(self, found: FixedCapacityHistory, **policy: object) -> None:
        self.clock = FakeClock(T0)
        self.repo = InMemoryCallbackRepository()
        self.cases = InMemoryCaseRepository()
        self.policy = default_policy(**policy)
        self.capacity = CapacityService(found, self.clock, LONDON, {20: 0.8})
        self.promises = PromiseService(self.capacity, self.repo, self.policy)
        self.service = CallbackService(self.repo, self.cases, InMemoryCallRepository(),
                                       self.policy, self.clock, normaliser("GB"))
        self.service.promises = self.promises.due_for

    async def promise(self, n: int, source: Source = Source.AGENT) -> datetime:
        if not (await self.cases.find(None, None, 500, None))[0]:
            await self.cases.add(new_case("HOU-1", "Repairs", None, T0))
        cb = await self.service.create(NewCallback(f"+4477009{n:05d}", "Boiler", "Sam",
                                                   "HOU-1", source=source))
        return cb.due_by


async def test_without_history_the_fixed_rule_is_promised() -> None:
    w = World(FixedCapacityHistory())
    assert await w.promise(1) == utc(2026, 11, 23, 14)  # within 4 working hours
    assert (w.promises.sized, w.promises.fixed) == (0, 1)


async def test_with_room_to_spare_the_floor_is_promised() -> None:
    w = World(history())
    assert await w.promise(1) == utc(2026, 11, 23, 11)  # within 1 working hour
    assert (w.promises.sized, w.promises.fixed) == (1, 0)


async def test_promises_move_back_as_the_backlog_grows_up_to_the_ceiling() -> None:
    w = World(history(arrivals=20, agents=5))
    dues = [await w.promise(n) for n in range(60)]
    assert dues == sorted(dues)
    assert dues[0] == utc(2026, 11, 23, 11) and dues[-1] > utc(2026, 11, 23, 14)
    floor, ceiling = w.policy.bounds_for(Source.AGENT, T0)
    assert all(floor <= d <= ceiling for d in dues)


async def test_no_spare_agents_promise_the_ceiling() -> None:
    w = World(history(arrivals=40, agents=4))  # 4 erlangs of calls: 4 agents are too few
    assert await w.promise(1) == w.policy.bounds_for(Source.AGENT, T0)[1]


async def test_confidence_zero_keeps_the_fixed_rule() -> None:
    w = World(history(), confidence=0.0)
    assert await w.promise(1) == utc(2026, 11, 23, 14)


async def test_a_failure_to_size_still_promises_the_fixed_rule() -> None:
    class Broken(FixedCapacityHistory):
        async def half_hours(self, *args: object) -> list[HalfHour]:
            raise ConnectionError("database gone")

    w = World(Broken())
    assert await w.promise(1) == utc(2026, 11, 23, 14)
    assert w.promises.fixed == 1


async def test_the_model_is_read_once_a_day() -> None:
    found = history()
    w = World(found)
    await w.promise(1)
    await w.promise(2)
    assert found.reads == 1
    w.clock.advance(days=1)
    await w.promise(3)
    assert found.reads == 2


async def test_an_asked_for_deadline_is_not_sized() -> None:
    w = World(history())
    await w.cases.add(new_case("HOU-1", "Repairs", None, T0))
    cb = await w.service.create(NewCallback("+447700900001", "Boiler", "Sam", "HOU-1",
                                            due_by=T0 + timedelta(hours=6)))
    assert cb.due_by == T0 + timedelta(hours=6) and w.promises.sized == 0


async def test_with_several_pbxs_each_sites_promises_are_sized_to_its_own_agents() -> None:
    """North's queue is swamped (4 agents for 4 erlangs), the main PBX's has room: a
    resident at north is promised north's ceiling, one at the main PBX the floor; north's
    backlog does not push the main PBX's promises back."""
    roomy, swamped = history(), history(arrivals=40, agents=4)
    found = FixedCapacityHistory({("council",): roomy.calls[None],
                                  ("north:council",): swamped.calls[None]},
                                 {("council",): roomy.answering[None],
                                  ("north:council",): swamped.answering[None]})
    w = World(found)
    sites = {"": ("council",), "north": ("north:council",)}

    async def site_queues(site: str) -> tuple[str, ...]:
        return sites[site]

    w.promises = PromiseService(w.capacity, w.repo, w.policy, site_queues)
    w.service = CallbackService(w.repo, w.cases, InMemoryCallRepository(), w.policy, w.clock,
                                normaliser("GB"), sites=("main", "north"))
    w.service.promises = w.promises.due_for
    await w.cases.add(new_case("HOU-1", "Repairs", None, T0))
    at_north = [await w.service.create(NewCallback(f"+44770090{n:04d}", "Boiler", "Sam",
                                                   site="north")) for n in range(5)]
    at_main = await w.service.create(NewCallback("+447700900999", "Boiler", "Sam"))
    ceiling = w.policy.bounds_for(Source.AGENT, T0)[1]
    assert {cb.due_by for cb in at_north} == {ceiling}
    assert at_main.due_by == utc(2026, 11, 23, 11) and at_main.site == ""
    assert (w.promises.sized, found.reads) == (6, 2)  # each site's model, read once
