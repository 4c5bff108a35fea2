"""The ledger against a real Asterisk: every queue call settled by Asterisk's own queue_log,
whatever happened to the AMI link or the service meanwhile.

Each test reads the session Asterisk's queue_log file, as a council's callcentre on the
same host (or with the log directory shared) would.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sqlite3
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path

import pytest

from callcentre.app import Service
from callcentre.config import Config
from callcentre.domain.calls import Call, Outcome
from callcentre.ports import CallQuery
from tests.asterisk import scenarios
from tests.asterisk.harness import AsteriskHarness, ScenarioResult
from tests.integration.proxy import CuttableProxy
from tests.integration.test_calls_real import config_for, scenario, through_proxy
from tests.integration.test_kill_restart_real import serve, wait_for
from tests.support import expected_from_queue_log, policy_text

pytestmark = pytest.mark.asterisk


def queue_log_of(asterisk: AsteriskHarness) -> str:
    return str(asterisk.log_dir / "queue_log")


async def settled_calls(service: Service, linkedids: set[str], timeout: float = 60,
                        ) -> dict[str, Call]:
    """The calls once the ledger has settled each of them (or what there is at the timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        await service.calllog.flush()
        page = await service.calls.find(CallQuery(limit=500))
        found = {c.linkedid: c for c in page.items if c.linkedid in linkedids and c.ledger}
        if len(found) == len(linkedids) or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.3)


def assert_as_queue_log(result: ScenarioResult, outcomes: dict[str, tuple[str | None, float | None]],
                        ) -> None:
    """Every call of the scenario once, with queue_log's outcome and its wait within 1 s."""
    truth = expected_from_queue_log(result.queue_log)
    assert truth, "the scenario wrote no queue_log lines"
    assert set(outcomes) == set(truth), (sorted(outcomes), sorted(truth))
    for linkedid, (outcome, wait) in truth.items():
        got_outcome, got_wait = outcomes[linkedid]
        assert got_outcome == outcome, linkedid
        assert got_wait is not None and abs(got_wait - wait) <= 1.0, (linkedid, got_wait, wait)


@pytest.fixture
async def ledgered(asterisk: AsteriskHarness,
                   tmp_path: Path) -> AsyncIterator[tuple[Service, CuttableProxy]]:
    """The service with the ledger on, reaching AMI through a proxy the test can cut.
    It never places a callback (no calling hours): a resident's key 1 is only recorded."""
    policy = tmp_path / "never-calls.toml"
    policy.write_text(policy_text(calling=""), encoding="utf-8")

    def configure(port: int) -> Config:
        return replace(config_for(asterisk, tmp_path / "cc.sqlite3", ami_port=port,
                                  queue_log=queue_log_of(asterisk)), policy_file=str(policy))

    async with through_proxy(asterisk, configure) as pair:
        yield pair


async def test_calls_the_call_log_got_right_are_marked_as_agreeing(
        asterisk: AsteriskHarness, ledgered: tuple[Service, CuttableProxy]) -> None:
    svc, _ = ledgered
    answered = await scenario(asterisk.answered, ring_s=1, talk_s=1)
    timeout = await scenario(asterisk.timeout, max_wait_s=3)
    for result in (answered, timeout):
        ids = {e.callid for e in result.events("ENTERQUEUE")}
        calls = await settled_calls(svc, ids)
        assert_as_queue_log(result, {k: (c.outcome, c.wait_seconds) for k, c in calls.items()})
        assert {c.ledger for c in calls.values()} == {"agrees"}
    health = await svc.monitoring.health()
    assert health["ledger"]["mode"] == "queue_log"
    assert health["ledger"]["state"] == "reading"
    assert health["ledger"]["calls"]["agreed"] >= 2
    assert health["ami"]["warnings"] == []  # the packaged account has every right it needs
    assert svc.resync.refused_actions == ()


EXITS: dict[str, Callable[[AsteriskHarness], ScenarioResult]] = {
    "exit_with_key": scenarios.exit_with_key,
    "exit_with_key_rejoin": lambda a: scenarios.exit_with_key(a, rejoin=True),
    "leave_empty": scenarios.leave_empty,
    "transfer": scenarios.transfer,
    "attended_transfer": lambda a: scenarios.transfer(a, attended=True),
    "two_queues": scenarios.two_queues,
}


@pytest.mark.slow  # six scenarios: left out of the shifted-clock runs, two of which run at once
@pytest.mark.parametrize("name", EXITS)
async def test_every_way_out_of_a_queue_is_logged_as_queue_log_names_it(
        asterisk: AsteriskHarness, ledgered: tuple[Service, CuttableProxy], name: str) -> None:
    """The live service's own record (AMI), held against queue_log by the ledger: it agrees."""
    svc, _ = ledgered
    result = await asyncio.to_thread(EXITS[name], asterisk)
    ids = {e.callid for e in result.events("ENTERQUEUE")}
    calls = await settled_calls(svc, ids)
    lines = [(e.time, e.queue, e.event, "|".join(e.data)) for e in result.queue_log
             if e.callid in ids]
    seen = {k: (c.outcome, c.wait_seconds, c.ledger) for k, c in calls.items()}
    try:
        assert_as_queue_log(result, {k: (c.outcome, c.wait_seconds) for k, c in calls.items()})
        assert {c.ledger for c in calls.values()} == {"agrees"}
    except AssertionError as err:
        raise AssertionError(f"{err}\nqueue_log: {lines}\nrecorded: {seen}") from None


@pytest.mark.slow  # a 20-caller burst: load, not hours (left out of the shifted-clock runs)
async def test_a_burst_while_the_link_is_cut_twenty_times(
        asterisk: AsteriskHarness, ledgered: tuple[Service, CuttableProxy]) -> None:
    svc, proxy = ledgered
    cuts = 0

    async def cutting() -> None:
        nonlocal cuts
        while True:
            await asyncio.sleep(0.9)
            proxy.cut()
            cuts += 1

    cutter = asyncio.create_task(cutting())
    try:
        result = await scenario(asterisk.burst, callers=20, agents=3, talk_s=2.0)
    finally:
        cutter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await cutter
    assert cuts >= 20, cuts
    ids = {e.callid for e in result.events("ENTERQUEUE")}
    assert len(ids) == 20
    calls = await settled_calls(svc, ids)
    assert_as_queue_log(result, {k: (c.outcome, c.wait_seconds) for k, c in calls.items()})
    assert {c.outcome for c in calls.values()} == {Outcome.ANSWERED}
    every = await svc.calls.find(CallQuery(limit=500))
    assert sorted(c.linkedid for c in every.items if c.linkedid in ids) == sorted(ids)  # once


def settled_rows(db: Path) -> dict[str, tuple[str | None, float | None]]:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        try:
            rows = conn.execute("SELECT linkedid, outcome, wait_seconds, ledger FROM calls")
            return {r[0]: (r[1], r[2]) for r in rows if r[3]}
        except sqlite3.OperationalError:
            return {}


@pytest.mark.slow
async def test_a_burst_while_the_service_is_killed_three_times(
        asterisk: AsteriskHarness, tmp_path: Path) -> None:
    db, log = tmp_path / "cc.sqlite3", tmp_path / "serve.log"
    start = lambda: serve(asterisk, db, log, queue_log=queue_log_of(asterisk))  # noqa: E731
    proc = start()
    try:
        await asyncio.to_thread(wait_for, lambda: b"resync:" in log.read_bytes(), 30,
                                "first start")
        burst = asyncio.create_task(scenario(asterisk.burst, callers=20, agents=3, talk_s=2.0))
        for _ in range(3):
            await asyncio.sleep(4)
            proc.send_signal(signal.SIGKILL)  # no flush, no goodbye
            proc.wait(10)
            await asyncio.sleep(2)  # calls go on while nobody is looking
            proc = start()
        result = await burst
        ids = {e.callid for e in result.events("ENTERQUEUE")}
        assert len(ids) == 20
        await asyncio.to_thread(wait_for, lambda: ids <= set(settled_rows(db)), 90,
                                "every call of the burst to be settled")
        rows = settled_rows(db)
        assert_as_queue_log(result, {k: rows[k] for k in ids})
        with contextlib.closing(sqlite3.connect(db)) as conn:
            (count,) = conn.execute(
                f"SELECT COUNT(*) FROM calls WHERE linkedid IN ({','.join('?' * len(ids))})",
                sorted(ids)).fetchone()
        assert count == 20
    finally:
        proc.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            assert proc.wait(15) == 0
        if proc.poll() is None:
            proc.kill()
