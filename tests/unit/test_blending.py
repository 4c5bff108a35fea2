"""Blending: callbacks wait while residents wait too long in the agent's queues, unless the
callback is about to break its promise. CallbackDialler on fakes, with an injected clock."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from callcentre.domain import callback_events as cev
from callcentre.domain.agents import AgentBoard
from callcentre.domain.calls import Call
from callcentre.domain.cases import new_case
from callcentre.phones import normaliser
from callcentre.ports import CallbackQuery
from callcentre.scheduling.due_loop import HeapScheduler
from callcentre.services.callback_dialler import CallbackDialler, DiallerSettings
from callcentre.services.callbacks import CallbackService, NewCallback
from callcentre.testing import (
    FakeClock,
    FakePbx,
    InMemoryCallbackRepository,
    InMemoryCallRepository,
    InMemoryCaseRepository,
    default_policy,
    utc,
)

T0 = utc(2026, 11, 23, 10)  # Monday 10:00 GMT: open, within calling hours
SETTINGS = DiallerSettings(blend_wait_seconds=20, blend_margin=timedelta(minutes=30))


class World:
    def __init__(self, settings: DiallerSettings = SETTINGS) -> None:
        self.clock = FakeClock(T0)
        self.repo = InMemoryCallbackRepository()
        self.cases = InMemoryCaseRepository()
        self.pbx = FakePbx()
        self.service = CallbackService(self.repo, self.cases, InMemoryCallRepository(),
                                       default_policy(), self.clock, normaliser("GB"))
        self.dialler = CallbackDialler(self.service, self.repo, HeapScheduler(), AgentBoard(),
                                       self.pbx, self.clock, settings)
        self.queues: dict[str, tuple[int, float]] = {}
        self.dialler.blending.waiting = lambda: self.queues  # what the wallboard reads

    def agent(self, n: int, queue: str = "council") -> None:
        self.dialler.handle(cev.MemberChanged(queue, f"PJSIP/agent{n}", f"Agent {n}",
                                              False, 1, False))

    async def promise(self, due_in: timedelta, phone: str = "+447700900123") -> Any:
        if not (await self.cases.find(None, None, 500, None))[0]:
            await self.cases.add(new_case("HOU-1", "Repairs", None, T0))
        return await self.service.create(NewCallback(phone, "Boiler", "Sam", "HOU-1",
                                                     due_by=T0 + due_in))

    def dialled(self) -> list[tuple[int, str]]:
        return [(r.callback_id, r.agent) for r in self.pbx.originated]


async def test_residents_waiting_past_the_threshold_keep_the_agent() -> None:
    w = World()
    cb = await w.promise(timedelta(hours=2))
    w.agent(1)
    w.queues["council"] = (3, 25.0)  # three waiting, the longest for 25 s > 20 s
    await w.dialler.tick()
    assert w.dialled() == []  # fails if blending is removed
    assert w.dialler.stats.held_for_queue == 1 and cb.id in w.dialler.ready
    w.queues["council"] = (1, 12.0)  # the queue is being answered in time again
    await w.dialler.tick()
    assert w.dialled() == [(cb.id, "PJSIP/agent1")]


async def test_a_wait_within_the_threshold_does_not_hold_callbacks() -> None:
    w = World()
    cb = await w.promise(timedelta(hours=2))
    w.agent(1)
    w.queues["council"] = (4, 20.0)  # at the threshold, not beyond it
    await w.dialler.tick()
    assert w.dialled() == [(cb.id, "PJSIP/agent1")]


async def test_a_callback_about_to_break_its_promise_is_dialled_anyway() -> None:
    w = World()
    later = await w.promise(timedelta(hours=2))
    urgent = await w.promise(timedelta(minutes=25), phone="+447700900124")  # within 30 min
    w.agent(1)
    w.agent(2)
    w.queues["council"] = (2, 90.0)
    await w.dialler.tick()
    assert w.dialled() == [(urgent.id, "PJSIP/agent1")]
    assert later.id in w.dialler.ready and w.dialler.stats.urgent_over_queue == 1
    w.clock.advance(hours=1, minutes=31)  # now the other one is within its margin
    await w.dialler.tick()
    assert w.dialled()[1:] == [(later.id, "PJSIP/agent2")]


async def test_only_the_crowded_queues_agents_are_held() -> None:
    w = World()
    cb = await w.promise(timedelta(hours=2))
    w.agent(1, "council")
    w.agent(2, "revenues")
    w.queues.update({"council": (5, 60.0), "revenues": (0, 0.0)})
    await w.dialler.tick()
    assert w.dialled() == [(cb.id, "PJSIP/agent2")]
    assert w.dialler.stats.held_for_queue == 0


async def test_blending_off_dials_whatever_the_queue() -> None:
    w = World(DiallerSettings(blend_wait_seconds=None))
    cb = await w.promise(timedelta(hours=2))
    w.agent(1)
    w.queues["council"] = (9, 300.0)
    await w.dialler.tick()
    assert w.dialled() == [(cb.id, "PJSIP/agent1")]


async def test_held_callbacks_cost_no_reads_while_the_queue_waits() -> None:
    w = World()
    for n in range(50):
        await w.promise(timedelta(hours=2, minutes=n), phone=f"+4477009{n:05d}")
    w.agent(1)
    w.queues["council"] = (6, 45.0)
    reads = 0
    get = w.repo.get

    async def counting(callback_id: int) -> Any:
        nonlocal reads
        reads += 1
        return await get(callback_id)

    w.repo.get = counting  # type: ignore[method-assign]
    await w.dialler.tick()
    assert reads == 0 and len(w.dialler.ready) == 50
    assert w.dialler.stats.held_for_queue == 1  # one round held back, not fifty offers


async def keypress(w: World, joined: datetime | None, queue: str = "council") -> Any:
    """The resident on 17.1 pressed the callback key at T0, having joined ``queue`` at
    ``joined`` (None: the service does not know the call, e.g. it restarted since)."""
    live = Call("17.1", "PJSIP/resident-1", T0 - timedelta(minutes=1), caller="+447700900123",
                queue=queue, queued_at=joined)
    w.dialler.blending.live_call = lambda linkedid: live if joined and linkedid == "17.1" else None
    w.dialler.handle(cev.CallbackRequested("17.1", "PJSIP/resident-1-00000001", T0,
                                           "07700 900123", "HOU-1", "en"))
    await w.service.drain()
    (cb,) = (await w.repo.find(CallbackQuery())).items
    return cb


async def test_a_resident_who_pressed_the_key_is_not_called_before_earlier_callers() -> None:
    w = World()
    cb = await keypress(w, joined=T0 - timedelta(seconds=10))
    w.agent(1, "revenues")  # free, and its own queue is empty
    w.queues.update({"council": (1, 15.0), "revenues": (0, 0.0)})  # joined 5 s before ours
    await w.dialler.tick()
    assert w.dialled() == []  # 15 s is within the answer threshold: only the place holds it
    assert w.dialler.blending.held_for_place == 1 and cb.id in w.dialler.ready
    w.queues["council"] = (1, 6.0)  # the earlier caller was answered; a later one waits
    await w.dialler.tick()
    assert w.dialled() == [(cb.id, "PJSIP/agent1")]


async def test_the_place_gives_way_near_the_deadline_and_is_not_known_after_a_restart() -> None:
    w = World()
    cb = await keypress(w, joined=T0 - timedelta(seconds=10))
    w.agent(1, "revenues")
    w.queues.update({"council": (1, 15.0), "revenues": (0, 0.0)})
    w.clock.advance(seconds=(cb.due_by - T0).total_seconds() - 25 * 60)  # within 30 min
    w.queues["council"] = (1, 15.0 + (w.clock.now() - T0).total_seconds())  # still waiting
    await w.dialler.tick()
    assert w.dialled() == [(cb.id, "PJSIP/agent1")]
    other = World()
    unknown = await keypress(other, joined=None)  # no live call: blended like any other
    other.agent(1, "revenues")
    other.queues.update({"council": (1, 15.0)})
    await other.dialler.tick()
    assert other.dialled() == [(unknown.id, "PJSIP/agent1")]
