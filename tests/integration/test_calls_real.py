"""The whole service against a real Asterisk 22 with real SIP calls (sipp).

For every call, the record's outcome matches Asterisk's own queue_log and the wait
agrees within 1 s. The service runs in-process here (except the kill -9 test, which
runs ``callcentre serve`` as a separate process).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from callcentre.app import Service
from callcentre.config import Config
from callcentre.domain.calls import Call, CaseLink, EndSource, Outcome
from callcentre.ports import CallQuery
from tests.asterisk.harness import AsteriskHarness, ScenarioResult
from tests.integration.proxy import CuttableProxy
from tests.support import expected_from_queue_log, policy_file

pytestmark = pytest.mark.asterisk


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def config_for(asterisk: AsteriskHarness, db: Path, ami_port: int | None = None,
               queue_log: str = "") -> Config:
    """The service under test, with explicit hours: open at every hour, no automatic
    callbacks (a test that wants them replaces ``policy_file``). AMI only unless given a
    ``queue_log``: these tests prove what AMI alone gets right; test_ledger_real.py adds
    the ledger."""
    return Config(ami_host=asterisk.ami_host, ami_port=ami_port or asterisk.ami_port,
                  ami_username=asterisk.ami_username, ami_secret=asterisk.ami_secret,
                  db=str(db), http_port=free_port(), policy_file=policy_file(db.parent),
                  ami_ping_interval=2.0, ami_ping_timeout=2.0, ami_reconnect_max=1.0,
                  queue_log=queue_log, queue_log_grace_seconds=3.0)


async def started(service: Service) -> Service:
    await service.ami.wait_connected(15)
    for _ in range(150):
        if service.resync.runs:
            return service
        await asyncio.sleep(0.1)
    raise AssertionError("resync did not run after connecting")


@pytest.fixture
async def service(asterisk: AsteriskHarness, tmp_path: Path) -> AsyncIterator[Service]:
    async with Service(config_for(asterisk, tmp_path / "cc.sqlite3")).running() as svc:
        yield await started(svc)


async def finished_calls(service: Service, linkedids: set[str], timeout: float = 20) -> dict[str, Call]:
    deadline = time.monotonic() + timeout
    while True:
        await service.calllog.flush()
        page = await service.calls.find(CallQuery(limit=500))
        found = {c.linkedid: c for c in page.items if c.linkedid in linkedids and c.finished}
        if len(found) == len(linkedids) or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.2)


async def scenario(fn: Callable[..., ScenarioResult], **kw: Any) -> ScenarioResult:
    return await asyncio.to_thread(fn, **kw)


def assert_matches_queue_log(result: ScenarioResult, calls: dict[str, Call]) -> None:
    truth = expected_from_queue_log(result.queue_log)
    assert truth, "the scenario wrote no queue_log lines"
    assert set(calls) == set(truth), (sorted(calls), sorted(truth))
    for linkedid, (outcome, wait) in truth.items():
        call = calls[linkedid]
        assert call.outcome == outcome, linkedid
        assert call.wait_seconds is not None
        assert abs(call.wait_seconds - wait) < 1.0, (linkedid, call.wait_seconds, wait)


async def check(service: Service, result: ScenarioResult) -> dict[str, Call]:
    linkedids = {e.callid for e in result.events("ENTERQUEUE")}
    calls = await finished_calls(service, linkedids)
    assert_matches_queue_log(result, calls)
    return calls


async def test_answered_call_with_a_case_reference(service: Service, asterisk: AsteriskHarness) -> None:
    await service.case_service.create("HOU-4471", "Repair to front door", None)
    result = await scenario(asterisk.answered, ring_s=2, talk_s=2, case_ref="HOU-4471")
    (call,) = (await check(service, result)).values()
    assert call.outcome is Outcome.ANSWERED
    assert (call.case_ref, call.case_link) == ("HOU-4471", CaseLink.KEYED)
    assert call.agent_interface and call.agent_name
    assert call.talk_seconds is not None and 1.0 < call.talk_seconds < 4.0
    assert call.caller is not None and call.caller.startswith("+44")
    assert call.dialled == "1000" and not call.repeat_of


async def test_abandoned_while_every_agent_is_paused(service: Service, asterisk: AsteriskHarness) -> None:
    result = await scenario(asterisk.abandoned, wait_s=4)
    (call,) = (await check(service, result)).values()
    assert call.outcome is Outcome.ABANDONED and call.abandon_position == 1
    assert call.case_ref is None and call.keyed_case_ref is None  # no X-Case-Ref: NONE


async def test_agents_do_not_answer_then_the_resident_gives_up(service: Service,
                                                              asterisk: AsteriskHarness) -> None:
    result = await scenario(asterisk.noanswer_then_abandon, wait_s=18)
    assert result.events("RINGNOANSWER"), "the member timeout should have fired"
    (call,) = (await check(service, result)).values()
    assert call.outcome is Outcome.ABANDONED and call.answered_at is None


async def test_queue_timeout_is_a_timeout(service: Service, asterisk: AsteriskHarness) -> None:
    """app_queue raises QueueCallerAbandon before QUEUESTATUS=TIMEOUT: queue_log says
    EXITWITHTIMEOUT, and the record must say timeout, not abandoned."""
    result = await scenario(asterisk.timeout, max_wait_s=3)
    assert result.events("EXITWITHTIMEOUT")
    (call,) = (await check(service, result)).values()
    assert call.outcome is Outcome.TIMEOUT and call.queue_status == "TIMEOUT"


@pytest.mark.slow
async def test_twenty_callers_on_three_agents(service: Service, asterisk: AsteriskHarness) -> None:
    result = await scenario(asterisk.burst, callers=20, agents=3)
    calls = await check(service, result)
    assert len(calls) == 20
    assert {c.outcome for c in calls.values()} == {Outcome.ANSWERED}
    assert max(c.wait_seconds or 0 for c in calls.values()) > 5  # later callers really queued


@pytest.fixture
async def proxied(asterisk: AsteriskHarness,
                  tmp_path: Path) -> AsyncIterator[tuple[Service, CuttableProxy]]:
    """The service, reaching AMI through a proxy the test can cut."""
    def configure(port: int) -> Config:
        return config_for(asterisk, tmp_path / "cc.sqlite3", ami_port=port)

    async with through_proxy(asterisk, configure) as pair:
        yield pair


@contextlib.asynccontextmanager
async def through_proxy(asterisk: AsteriskHarness, configure: Callable[[int], Config]
                        ) -> AsyncIterator[tuple[Service, CuttableProxy]]:
    """The service configured by ``configure(proxy port)``, started (see ``started``)."""
    proxy = CuttableProxy(asterisk.ami_host, asterisk.ami_port)
    await proxy.start()
    try:
        async with Service(configure(proxy.port)).running() as svc:
            yield await started(svc), proxy
    finally:
        await proxy.stop()


async def test_link_dropped_mid_call_then_restored(
        asterisk: AsteriskHarness, proxied: tuple[Service, CuttableProxy]) -> None:
    svc, proxy = proxied
    job = asyncio.create_task(scenario(asterisk.abandoned, wait_s=8))
    await wait_for_in_progress(svc)
    runs = svc.resync.runs
    proxy.cut()  # the caller is still queued
    await wait_until(lambda: svc.resync.runs > runs, 20)
    result = await job
    (call,) = (await check(svc, result)).values()
    assert call.outcome is Outcome.ABANDONED and call.end_source is EndSource.HANGUP
    assert svc.ami.stats.disconnects >= 1


async def test_call_ends_while_the_link_is_down(
        asterisk: AsteriskHarness, proxied: tuple[Service, CuttableProxy]) -> None:
    svc, proxy = proxied
    job = asyncio.create_task(scenario(asterisk.abandoned, wait_s=5))
    await wait_for_in_progress(svc)
    proxy.refusing = True
    proxy.cut()
    result = await job  # the call ends while we cannot see it
    runs = svc.resync.runs
    proxy.refusing = False
    await wait_until(lambda: svc.resync.runs > runs, 20)
    linkedid = result.events("ENTERQUEUE")[0].callid
    call = (await finished_calls(svc, {linkedid}))[linkedid]
    assert call.end_source is EndSource.RECONCILED  # closed with its last known facts
    assert call.queued_at is not None and call.outcome is Outcome.UNKNOWN


async def test_answered_while_the_link_is_down(
        asterisk: AsteriskHarness, proxied: tuple[Service, CuttableProxy]) -> None:
    """The agent answers while the service cannot see Asterisk; the resync after the link
    is back finds the caller bridged to the member's leg: answered, not (as before) an
    abandon when the caller later hangs up. AMI alone knows the answer time only to within
    the agent's ring time, so the wait is checked to that, the outcome exactly."""
    svc, proxy = proxied
    ring_s = 2.0
    job = asyncio.create_task(scenario(asterisk.answered, ring_s=ring_s, talk_s=8))
    await wait_for_in_progress(svc)
    proxy.refusing = True
    proxy.cut()  # the agent's phone rings and is answered while we are away
    await asyncio.sleep(ring_s + 2)
    runs = svc.resync.runs
    proxy.refusing = False
    await wait_until(lambda: svc.resync.runs > runs, 20)
    result = await job
    truth = expected_from_queue_log(result.queue_log)
    ((linkedid, (outcome, wait)),) = truth.items()
    call = (await finished_calls(svc, {linkedid}))[linkedid]
    assert outcome == "answered" and call.outcome is Outcome.ANSWERED
    assert call.end_source is EndSource.HANGUP and call.agent_interface
    assert call.wait_seconds is not None and wait - ring_s - 1 <= call.wait_seconds <= wait + 1


async def wait_for_in_progress(svc: Service, timeout: float = 20) -> None:
    async def queued() -> bool:
        return any(c.queued_at for c in svc.tracker.active())

    deadline = time.monotonic() + timeout
    while not await queued():
        assert time.monotonic() < deadline, "no call reached the queue"
        await asyncio.sleep(0.1)
    await svc.calllog.flush()


async def wait_until(predicate: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.1)
