"""Reads never wait behind a report (#16): a pool of reader connections, and a ping of its
own for /healthz. Asserted on what completes and in which order, never on how fast."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any

import pytest

from callcentre.app import Service
from callcentre.config import Config
from callcentre.errors import StorageError
from callcentre.storage.db import Database
from tests.adapters.test_service_end_to_end import free_port, get_json, svc_token
from tests.support import policy_file

# A read that runs until it is interrupted: counts an endless recursive sequence.
ENDLESS = ("WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) "
           "SELECT count(*) FROM r")


async def finishes(awaitable: Awaitable[Any]) -> Any:
    # a guard against hanging the suite when the pool is broken, not a measure of speed
    return await asyncio.wait_for(awaitable, 60)


@pytest.fixture
async def two_readers(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(tmp_path / "cc.sqlite3", readers=2)
    await database.open()
    await database.migrate()
    yield database
    await finishes(database.close())


async def hold_a_reader(db: Database) -> asyncio.Task[Any]:
    free = db.readers_free
    task = asyncio.create_task(db.fetch_all(ENDLESS))
    await asyncio.sleep(0)  # it takes its connection in its first step
    assert db.readers_free == free - 1
    return task


async def test_a_long_read_holds_one_reader_and_the_others_keep_answering(
        two_readers: Database) -> None:
    report = await hold_a_reader(two_readers)
    answers = [await finishes(two_readers.fetch_one("SELECT ?", (n,))) for n in range(20)]
    assert [row[0] for row in answers] == list(range(20))
    assert not report.done()
    report.cancel()
    with pytest.raises(asyncio.CancelledError):
        await report


async def test_with_every_reader_busy_reads_wait_in_turn_and_ping_does_not(
        two_readers: Database) -> None:
    first, second = await hold_a_reader(two_readers), await hold_a_reader(two_readers)
    waiting = [asyncio.create_task(two_readers.fetch_one("SELECT ?", (n,))) for n in range(3)]
    await finishes(two_readers.ping())  # /healthz's connection is its own
    assert not any(task.done() for task in waiting)
    first.cancel()  # the report's client went away: its statement is interrupted
    answers = await finishes(asyncio.gather(*waiting))
    assert [row[0] for row in answers] == [0, 1, 2]
    assert not second.done()
    second.cancel()
    await finishes(asyncio.wait([first, second]))
    assert first.cancelled() and second.cancelled()
    await finishes(every_reader_back(two_readers))  # both statements were interrupted


async def every_reader_back(db: Database) -> None:
    # a cancelled read's connection comes back once SQLite's thread has stopped its
    # statement; the pool has no event for that, and the test needs none in the product
    while db.readers_free < 2:  # noqa: ASYNC110
        await asyncio.sleep(0.01)


async def test_a_failed_read_gives_its_connection_back(two_readers: Database) -> None:
    for _ in range(3):
        with pytest.raises(StorageError, match="no such table"):
            await two_readers.fetch_all("SELECT * FROM nowhere")
    assert two_readers.readers_free == 2


async def test_readers_never_write(two_readers: Database) -> None:
    with pytest.raises(StorageError, match="readonly"):
        await two_readers.fetch_all("DELETE FROM calls")


async def test_a_memory_database_reads_and_pings_on_its_writer() -> None:
    database = Database(":memory:")
    await database.open()
    try:
        await database.migrate()  # the tables the writer made are the ones read
        assert (await database.fetch_all("SELECT count(*) FROM calls"))[0][0] == 0
        await database.ping()
        assert database.readers_free == 1
    finally:
        await database.close()


async def test_a_closed_database_says_so() -> None:
    database = Database(":memory:")
    for attempt in (database.ping(), database.fetch_all("SELECT 1")):
        with pytest.raises(StorageError, match="not open"):
            await attempt
    with pytest.raises(ValueError, match="at least one reader"):
        Database(":memory:", readers=0)


async def test_healthz_answers_while_reports_hold_every_reader(tmp_path: Path) -> None:
    cfg = Config(ami_port=free_port(), db=str(tmp_path / "cc.sqlite3"), db_readers=2,
                 policy_file=policy_file(tmp_path), http_port=free_port(), ami_reconnect_max=0.2)
    async with Service(cfg).running() as svc:
        base, token = f"http://127.0.0.1:{cfg.http_port}", await svc_token(svc)
        reports = [await hold_a_reader(svc.db), await hold_a_reader(svc.db)]
        api = asyncio.create_task(get_json(f"{base}/api/calls/1", token))
        status, health = await finishes(get_json(f"{base}/healthz"))
        assert status == 200 and health["db"] == {"ok": True, "detail": "ok"}
        assert not api.done()  # the API's reads wait for a reader, /healthz did not
        reports[0].cancel()
        assert (await finishes(api))[0] == 404  # answered once a reader came free
        reports[1].cancel()
        await finishes(asyncio.wait(reports))


async def test_closing_interrupts_reads_still_running(tmp_path: Path) -> None:
    database = Database(tmp_path / "cc.sqlite3", readers=2)
    await database.open()
    reports = [await hold_a_reader(database), await hold_a_reader(database)]
    await finishes(database.close())  # never waits for a report to end by itself
    for report in reports:
        with pytest.raises(StorageError, match="interrupted"):
            await report


async def test_a_read_cancelled_before_its_statement_starts_still_ends(
        two_readers: Database) -> None:
    report = asyncio.create_task(two_readers.fetch_all(ENDLESS))
    await asyncio.sleep(0)  # it has a connection; its thread may not have started it yet
    report.cancel()
    await finishes(every_reader_back(two_readers))
