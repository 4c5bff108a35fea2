"""Several instances on one PostgreSQL database: one leads the PBX, the others stand by
(storage/postgres/leadership.py), and each hears of the callbacks the others change
(storage/postgres/notices.py). Each instance here is a PgDatabase of its own (its own
connections and application_name) on the test's database, as separate processes have."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace

import asyncpg
import pytest

from callcentre.domain.live import LeaderLive
from callcentre.errors import StorageError
from callcentre.storage.postgres.callbacks import PgCallbackRepository
from callcentre.storage.postgres.db import Fenced, PgDatabase
from callcentre.storage.postgres.leadership import PgLeadership
from callcentre.storage.postgres.notices import PgNotices
from tests.contract.test_callback_repository import a_callback

# slow: leases timed on the wall clock, not hours: left out of the shifted-clock
# runs (two suites share two cores there, tests/clock-shifts.sh); the main run has them
pytestmark = [pytest.mark.postgres, pytest.mark.slow]
LEASE = 2.0  # seconds: a silent leader is cut off soon, and a loaded machine renews in time


@contextlib.asynccontextmanager
async def instance(pg_db: PgDatabase, name: str,
                   lease: float = LEASE) -> AsyncIterator[PgLeadership]:
    db = PgDatabase(pg_db.dsn, 3, instance=name)
    await db.open()
    elector = PgLeadership(db, "main", lease)
    try:
        yield elector
    finally:
        await elector.close()
        await db.close()


async def write(elector: PgLeadership, value: str) -> None:
    async with elector._db.write() as tx:
        await tx.execute("INSERT INTO cases (ref, subject, status, created_at, updated_at)"
                         " VALUES (?, 't', 'open', 0, 0)", (value,))


async def refs(pg_db: PgDatabase) -> list[str]:
    return [r[0] for r in await pg_db.fetch_all("SELECT ref FROM cases ORDER BY ref")]


async def test_one_leads_the_other_stands_by(pg_db: PgDatabase) -> None:
    async with instance(pg_db, "a") as a, instance(pg_db, "b") as b:
        assert await a.try_lead()
        assert not await b.try_lead()
        assert a.leading() and not b.leading()
        assert (a.report().role, a.report().term) == ("leader", 1)
        assert (b.report().role, b.report().leader) == ("standby", "a")
        await write(a, "A-1")  # the leader's writes carry its term
        await write(b, "B-1")  # a standby's (the API's) are not fenced
        assert await refs(pg_db) == ["A-1", "B-1"]


async def test_a_dead_leader_is_followed_at_once_and_fenced(pg_db: PgDatabase) -> None:
    async with instance(pg_db, "a") as a, instance(pg_db, "b") as b:
        assert await a.try_lead()
        await a.close()  # its lock connection gone: as when its process is killed
        started = time.monotonic()
        assert await b.try_lead()
        assert time.monotonic() - started < LEASE  # no lease to wait out: the lock is free
        assert b.report().term == 2
        with pytest.raises(Fenced, match="term 2"):
            await write(a, "A-late")  # a's pool, still open, carries the old term
        await write(b, "B-1")
        assert await refs(pg_db) == ["B-1"]


async def test_a_write_the_dead_leader_left_open_does_not_block_the_takeover(
        pg_db: PgDatabase) -> None:
    """Its lock connection gone while one of its writes (paused in the middle) still holds
    the leaders' row: the taker ends the last leader's connections and takes over."""
    async with instance(pg_db, "a") as a, instance(pg_db, "b") as b:
        assert await a.try_lead()
        with pytest.raises(StorageError):
            async with a._db.write() as tx:  # the fence check holds the row FOR SHARE
                await a.close()  # the lock connection goes: the lock is free
                started = time.monotonic()
                while not await b.try_lead():
                    assert time.monotonic() - started < 10 * LEASE
                await tx.execute("SELECT 1")  # a's write was ended with its connection
        assert b.report().term == 2


async def test_a_silent_leader_is_cut_off_after_its_lease(pg_db: PgDatabase) -> None:
    async with instance(pg_db, "a") as a, instance(pg_db, "b") as b:
        assert await a.try_lead()  # and never renews: paused
        started = time.monotonic()
        while not await b.try_lead():
            assert time.monotonic() - started < 10 * LEASE
        assert time.monotonic() - started > LEASE  # not before the lease ran out
        assert not a.leading()  # by its own clock, before b could take over
        with pytest.raises(StorageError):  # cut off, and fenced when it reconnects
            await write(a, "A-late")
        with pytest.raises(Fenced):
            await write(a, "A-later")
        assert await refs(pg_db) == []


async def test_the_leader_renews_and_is_not_cut_off(pg_db: PgDatabase) -> None:
    async with instance(pg_db, "a") as a, instance(pg_db, "b") as b:
        assert await a.try_lead()
        keeping = asyncio.create_task(a.keep())
        for _ in range(int(3 * LEASE / b.poll) + 1):
            assert not await b.try_lead()
        assert a.leading() and not keeping.done()
        keeping.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await keeping


async def end_lock_connection(pg_db: PgDatabase) -> None:
    """The server ends the leader's lock connection (an admin, a restart, a failover)."""
    admin = await asyncpg.connect(pg_db.dsn)
    try:
        await admin.execute("SELECT pg_terminate_backend(backend_pid) FROM pbx_leaders")
    finally:
        await admin.close()


async def test_a_lock_connection_lost_is_taken_again_and_the_lead_kept(
        pg_db: PgDatabase) -> None:
    async with instance(pg_db, "a") as a:
        assert await a.try_lead()
        keeping = asyncio.create_task(a.keep())
        await end_lock_connection(pg_db)
        await asyncio.sleep(2 * LEASE)  # several renewals later
        assert not keeping.done() and a.leading() and a.report().term == 1
        await write(a, "A-1")  # the same term: its writes go on
        (holder,) = await pg_db.fetch_all(  # the row names a's new lock connection
            "SELECT application_name FROM pg_stat_activity"
            " WHERE pid = (SELECT backend_pid FROM pbx_leaders)")
        assert holder[0] == "a"
        keeping.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await keeping


async def test_keep_returns_when_the_lead_is_lost_and_writes_are_refused(
        pg_db: PgDatabase) -> None:
    async with instance(pg_db, "a") as a, instance(pg_db, "b") as b:
        assert await a.try_lead()
        keeping = asyncio.create_task(a.keep())
        await end_lock_connection(pg_db)
        assert await b.try_lead()  # before a renews: the lock is free
        await asyncio.wait_for(keeping, 5 * LEASE)
        assert a.report().role == "deposed" and not a.leading()
        assert "another instance" in a.report().detail
        with pytest.raises(Fenced, match="no longer leads"):
            await write(a, "A-late")
        await write(b, "B-1")
        assert await refs(pg_db) == ["B-1"]


async def test_a_standby_rides_out_the_database_going_away(pg_db: PgDatabase) -> None:
    async with instance(pg_db, "b") as b:
        b._db.dsn = pg_db.dsn.replace("/test_", "/missing_")
        assert not await b.try_lead()
        assert b.report().role == "standby" and "database" in b.report().detail
        b._db.dsn = pg_db.dsn
        assert await b.try_lead()


class Heard:
    """What a Relay would be told: callbacks changed elsewhere, and reloads."""

    def __init__(self) -> None:
        self.changed: list[int] = []
        self.missed = 0
        self.views: list[LeaderLive] = []

    async def on_changed(self, callback_id: int) -> None:
        self.changed.append(callback_id)

    async def on_missed(self) -> None:
        self.missed += 1

    def on_view(self, view: LeaderLive) -> None:
        self.views.append(view)


async def until(predicate: Callable[[], bool]) -> None:
    for _ in range(100):
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("timed out")


async def test_a_callback_changed_on_one_instance_is_heard_by_the_others(
        pg_db: PgDatabase) -> None:
    """On commit (the trigger of migrations/011), with the writer's own notices skipped,
    and a reconnect after the listening connection drops said as 'missed'."""
    async with instance(pg_db, "a") as a, instance(pg_db, "b") as b:
        heard_a, heard_b = Heard(), Heard()
        notices = [PgNotices(e._db, 0.1) for e in (a, b)]
        listening = [asyncio.create_task(n.listen(h.on_changed, h.on_missed, h.on_view))
                     for n, h in zip(notices, (heard_a, heard_b), strict=True)]
        try:
            await asyncio.sleep(0.3)  # both listening
            repo_b = PgCallbackRepository(b._db)
            added = await repo_b.add(a_callback())
            await until(lambda: heard_a.changed == [added.id])
            await repo_b.update(replace(added, reason="changed"))
            await until(lambda: heard_a.changed == [added.id, added.id])
            assert heard_b.changed == []  # b wrote it: b knows
            admin = await asyncpg.connect(pg_db.dsn)
            try:  # a's listening connection is cut
                await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                                    " WHERE application_name = 'a notices'")
            finally:
                await admin.close()
            await until(lambda: heard_a.missed == 1)
            await repo_b.update(replace(added, reason="again", version=2))
            await until(lambda: len(heard_a.changed) == 3)
            # the leader's live view: to the others, as sent (its own is not heard)
            view = LeaderLive({"council": (2, 31.5)}, {"council": {"available": 1}}, 3,
                              (added.id or 0,), ("Agent One",))
            await notices[0].publish(view)
            await until(lambda: heard_b.views == [view])
            await b._db.fetch_all("SELECT pg_notify('callcentre_live', 'x {\"nonsense\": 1}')")
            await notices[0].publish(view)  # after a view not understood: still listening
            await until(lambda: heard_b.views == [view, view])
            north = replace(view, waiting={"north:council": (1, 4.0)}, site="north:")
            await notices[0].publish(north)  # another PBX's view says whose it is
            await until(lambda: heard_b.views == [view, view, north])
            assert heard_a.views == []
        finally:
            for task in listening:
                task.cancel()
            await asyncio.gather(*listening, return_exceptions=True)
