"""What instances sharing a database tell each other (services/relay.py), with fakes."""

from __future__ import annotations

import asyncio

from callcentre.domain.callbacks import Callback
from callcentre.domain.live import LeaderLive
from callcentre.services.relay import STALE, Relay
from callcentre.testing import FakeNotices, InMemoryCallbackRepository
from tests.contract.test_callback_repository import a_callback

VIEW = LeaderLive({"council": (2, 31.5)}, {"council": {"available": 1}}, 3, (7,), ("Ann",))


class World:
    def __init__(self, leading: bool) -> None:
        self.notices = FakeNotices()
        self.repo = InMemoryCallbackRepository()
        self.tracked: list[Callback] = []
        self.reloads = self.bumps = 0
        self.leading = leading
        self.now = 0.0
        self.view = VIEW
        self.relay = Relay(self.notices, self.repo, self.tracked.append, self.reload,
                           self.bump, lambda site: self.view, {"": lambda: self.leading},
                           every=0.01, monotonic=lambda: self.now)

    async def reload(self) -> int:
        self.reloads += 1
        return 0

    def bump(self) -> None:
        self.bumps += 1


async def running(world: World) -> asyncio.Task[None]:
    task = asyncio.create_task(world.relay.run())
    await asyncio.sleep(0)
    return task


async def test_a_callback_changed_elsewhere_is_tracked_and_a_missed_notice_reloads() -> None:
    world = World(leading=True)
    task = await running(world)
    try:
        added = await world.repo.add(a_callback())
        await world.notices.changed(added.id or 0)
        await world.notices.changed(999)  # gone meanwhile: nothing to track
        assert [c.id for c in world.tracked] == [added.id] and world.bumps == 1
        await world.notices.missed()
        assert world.reloads == 1 and world.bumps == 2
    finally:
        task.cancel()


async def test_a_standby_shows_the_leaders_fresh_view_and_the_leader_its_own() -> None:
    world = World(leading=False)
    task = await running(world)
    try:
        assert world.relay.remote() is None  # nothing heard yet
        await world.notices.seen(VIEW)
        assert world.relay.remote() == VIEW and world.bumps == 1
        await world.notices.seen(VIEW)  # the same again: no page refresh
        assert world.bumps == 1
        world.now += STALE
        assert world.relay.remote() is None  # stale: not shown
        world.now -= STALE
        world.leading = True
        assert world.relay.remote() is None  # the leader shows its own
    finally:
        task.cancel()


async def test_the_leader_publishes_its_view_when_it_changes_and_a_standby_never() -> None:
    world = World(leading=False)
    task = await running(world)
    try:
        await asyncio.sleep(0.05)
        assert world.notices.published == []
        world.leading = True
        await asyncio.sleep(0.05)
        assert world.notices.published == [VIEW]  # once: unchanged since
        world.view = LeaderLive(in_progress=4)
        await asyncio.sleep(0.05)
        assert world.notices.published == [VIEW, world.view]
        world.now += STALE  # unchanged for long: said again, so standbys keep showing it
        await asyncio.sleep(0.05)
        assert world.notices.published[-1] == world.view and len(world.notices.published) == 3
    finally:
        task.cancel()



async def test_each_pbx_has_its_leaders_view_and_an_instance_shows_them_all() -> None:
    """Instance A leads the main PBX and B north (several PBXs): each publishes only the
    view of the PBX it leads, and shows its own view of that one with the other's latest."""
    notices = FakeNotices()
    north = LeaderLive({"north:council": (1, 12.0)}, {"north:council": {"busy": 2}}, 1, (9,),
                       (), "north:")
    leads = {"": True, "north:": False}
    views = {"": VIEW, "north:": LeaderLive(site="north:")}  # what A would say of north: nothing
    relay = Relay(notices, InMemoryCallbackRepository(), lambda cb: None, _nothing, lambda: None,
                  views.__getitem__, {site: lambda s=site: leads[s] for site in leads},
                  every=0.01)
    task = asyncio.create_task(relay.run())
    try:
        await asyncio.sleep(0.05)
        assert notices.published == [VIEW]  # the main PBX's only
        assert relay.remote() is None  # nothing heard of north yet: A's own view
        await notices.seen(north)
        shown = relay.remote()
        assert shown is not None
        assert shown.waiting == {"council": (2, 31.5), "north:council": (1, 12.0)}
        assert set(shown.agents) == {"council", "north:council"}
        assert (shown.in_progress, shown.ready, shown.available) == (4, (7, 9), ("Ann",))
        leads["north:"] = True  # A leads both now: its own view of each
        assert relay.remote() is None
    finally:
        task.cancel()


async def _nothing() -> int:
    return 0
