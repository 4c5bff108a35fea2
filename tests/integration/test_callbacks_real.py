"""Promised callbacks against the real Asterisk 22 of the harness, with sipp phones.

The service runs in-process with a test policy (always open, short retries; the packaged
default check: the resident must press 1). Agents 2 and 3 are paused, so callbacks go to
agent1's phone; the resident's phone is the sipp behind endpoint resident-cb, which keys
DTMF as SIP INFO (``keys``) and can play sipp's g711a.pcap as a greeting (an answering
machine). The AMI these tests see was captured into tests/fixtures/ami/callback_*.ami.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from callcentre.app import Service
from callcentre.domain.callback_policy import Source
from callcentre.domain.callbacks import AttemptOutcome, Callback, Result, Status
from callcentre.ports import CallbackQuery
from callcentre.services.callbacks import NewCallback
from tests.asterisk.harness import AsteriskHarness, Caller
from tests.integration.test_calls_real import config_for, started
from tests.support import policy_text

pytestmark = pytest.mark.asterisk

POLICY = policy_text(callbacks="""max_attempts = 2
retry_minutes = [0.1]
min_talk_seconds = 2
abandoned_after_seconds = 2
owner_hold_back_minutes = 0""")


# confirmation off, answering machine detection on (dialplans/amd.conf)
AMD_POLICY = policy_text(callbacks="""max_attempts = 2
retry_minutes = [0.1]
min_talk_seconds = 2
require_confirmation = false
answering_machine_detection = true
abandoned_after_seconds = 2
owner_hold_back_minutes = 0""")


@pytest.fixture
async def service(asterisk: AsteriskHarness, tmp_path: Path) -> AsyncIterator[Service]:
    async with running(asterisk, tmp_path, POLICY) as svc:
        yield svc


@pytest.fixture
async def amd_service(asterisk: AsteriskHarness, tmp_path: Path) -> AsyncIterator[Service]:
    async with running(asterisk, tmp_path, AMD_POLICY) as svc:
        yield svc


@contextlib.asynccontextmanager
async def running(asterisk: AsteriskHarness, tmp_path: Path,
                  policy_toml: str) -> AsyncIterator[Service]:
    policy = tmp_path / "callbacks-policy.toml"  # config_for writes policy.toml
    policy.write_text(policy_toml)
    cfg = replace(config_for(asterisk, tmp_path / "cc.sqlite3"), policy_file=str(policy),
                  callback_agent_ring_seconds=4)
    await asyncio.to_thread(asterisk.pause_members, True, "callback-tests", ["agent2", "agent3"])
    try:
        async with Service(cfg).running() as svc:
            await started(svc)
            await wait_until(lambda: any(a.interface == "PJSIP/agent1"
                                         for a in svc.callbacks.diallers.main.board.available()), 15)
            yield svc
    finally:
        await asyncio.to_thread(asterisk.pause_members, False, "", ["agent2", "agent3"])


async def wait_until(predicate: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.1)


async def wait_for(svc: Service, callback_id: int, done: Callable[[Callback], bool],
                   timeout: float = 60) -> Callback:
    deadline = time.monotonic() + timeout
    while True:
        cb = await svc.callbacks.repo.get(callback_id)
        if done(cb):
            return cb
        assert time.monotonic() < deadline, f"callback {callback_id} stuck: {cb}"
        await asyncio.sleep(0.2)


@contextlib.asynccontextmanager
async def callback_phones(asterisk: AsteriskHarness, **kw: Any) -> AsyncIterator[None]:
    """The harness's agent and resident phones, up while the block runs."""
    up, finished = threading.Event(), threading.Event()

    def hold() -> None:
        with asterisk.callback_phones(**kw):
            up.set()
            finished.wait(120)

    job = asyncio.create_task(asyncio.to_thread(hold))
    assert await asyncio.to_thread(up.wait, 15), "callback phones did not start"
    try:
        yield
    finally:
        finished.set()
        await job


async def dialplan_globals(asterisk: AsteriskHarness, **values: object) -> None:
    for name, value in values.items():
        await asyncio.to_thread(asterisk.cli, f"dialplan set global {name} {value}")


async def promise(svc: Service, ref: str) -> Callback:
    with contextlib.suppress(Exception):
        await svc.case_service.create(ref, "Callback test", None)
    return await svc.callbacks.service.create(NewCallback(
        "07700900555", "Repair date", "Sam", ref, owner="Agent 1"))


async def test_resident_presses_1_and_the_promise_is_kept(service: Service,
                                                          asterisk: AsteriskHarness) -> None:
    # the phone answers after 1 s, keys 1 two seconds later, hangs up 6 s after the key
    async with callback_phones(asterisk, agent_ring_s=1, resident_ring_s=1, talk_s=6,
                               keys="1"):
        cb = await promise(service, "CB-KEPT-1")
        done = await wait_for(service, cb.id or 0, lambda c: c.status is Status.CLOSED)
    assert done.result is Result.KEPT, done
    (attempt,) = done.attempts
    assert attempt.outcome is AttemptOutcome.REACHED and attempt.agent == "PJSIP/agent1"
    assert attempt.confirmed
    assert attempt.answered_at is not None and attempt.ended_at is not None
    # connected (DialEnd ANSWER) once the key came, then 6 s with the agent
    assert 5 <= (attempt.ended_at - attempt.answered_at).total_seconds() < 7


async def last_outcome(svc: Service, callback_id: int, timeout: float = 90) -> Callback:
    return await wait_for(svc, callback_id, lambda c: bool(c.attempts)
                          and c.attempts[0].outcome is not None, timeout)


async def test_a_machine_that_talks_without_keying_is_not_kept(service: Service,
                                                               asterisk: AsteriskHarness) -> None:
    mark = asterisk.mark()
    await dialplan_globals(asterisk, CALLCENTRE_CALLBACK_ANNOUNCE="no")  # 8 s less
    try:
        async with callback_phones(asterisk, agent_ring_s=1, resident_ring_s=1, talk_s=30,
                                   greeting=True):
            cb = await promise(service, "CB-MACHINE-1")
            got = await last_outcome(service, cb.id or 0)
            await service.callbacks.service.cancel(cb.id or 0, "test over", "test")  # no retry
    finally:
        await dialplan_globals(asterisk, CALLCENTRE_CALLBACK_ANNOUNCE="yes")
    (attempt, *_) = got.attempts
    assert attempt.outcome is AttemptOutcome.UNCONFIRMED and not attempt.confirmed, got
    assert attempt.note == "answered, but nobody pressed 1 to confirm"
    assert got.status is Status.PENDING and got.result is None and got.counted_attempts == 1
    assert attempt.ended_at is not None and got.next_attempt_at is not None
    assert got.next_attempt_at >= attempt.ended_at + timedelta(seconds=5)  # retry_minutes 0.1
    # the machine stayed on (prompt twice, 5 s each) until the dialplan hung up on it
    resident_leg = next(c for c in asterisk.cdrs_since(mark) if c["dst"].endswith("7700900555"))
    assert int(resident_leg["billsec"]) >= 15, resident_leg


async def test_amd_detects_the_machine_when_confirmation_is_off(
        amd_service: Service, asterisk: AsteriskHarness) -> None:
    async with callback_phones(asterisk, agent_ring_s=1, resident_ring_s=1, talk_s=20,
                               greeting=True):
        cb = await promise(amd_service, "CB-AMD-1")
        got = await last_outcome(amd_service, cb.id or 0)
        await amd_service.callbacks.service.cancel(cb.id or 0, "test over", "test")
    (attempt, *_) = got.attempts
    assert (attempt.outcome, attempt.amd) == (AttemptOutcome.MACHINE, "MACHINE"), got
    assert attempt.note == "answering machine" and got.counted_attempts == 1


async def test_resident_does_not_answer_retried_then_missed(service: Service,
                                                            asterisk: AsteriskHarness) -> None:
    # the resident's phone rings 3 s; the agent hears no case and time first (8 s an attempt)
    await dialplan_globals(asterisk, CALLCENTRE_CALLBACK_RING=3, CALLCENTRE_CALLBACK_ANNOUNCE="no")
    try:
        async with callback_phones(asterisk, agent_ring_s=1, resident_ring_s=3600, talk_s=1):
            cb = await promise(service, "CB-MISS-1")
            done = await wait_for(service, cb.id or 0, lambda c: c.status is Status.CLOSED, 90)
    finally:  # the dialplan's own values
        await dialplan_globals(asterisk, CALLCENTRE_CALLBACK_RING=30,
                               CALLCENTRE_CALLBACK_ANNOUNCE="yes")
    assert done.result is Result.MISSED, done
    assert [a.outcome for a in done.attempts] == [AttemptOutcome.NO_ANSWER] * 2
    assert done.first_attempt_in_time is True
    gap = done.attempts[1].started_at - (done.attempts[0].ended_at or done.created_at)
    assert gap.total_seconds() >= 5  # retry spacing (0.1 min) respected


async def test_agent_does_not_answer(service: Service, asterisk: AsteriskHarness) -> None:
    async with callback_phones(asterisk, agent_ring_s=3600, resident_ring_s=1, talk_s=1):
        cb = await promise(service, "CB-AGENT-1")
        done = await wait_for(service, cb.id or 0,
                              lambda c: bool(c.attempts) and c.attempts[0].outcome is not None, 30)
    assert done.attempts[0].outcome is AttemptOutcome.AGENT_NO_ANSWER, done
    assert done.status is Status.PENDING and done.counted_attempts == 0
    await service.callbacks.service.cancel(done.id or 0, "test over", "test")


async def test_resident_keys_the_callback_option_and_hears_when(service: Service,
                                                               asterisk: AsteriskHarness) -> None:
    await service.case_service.create("CB-KEY-1", "Queue keypress", None)
    number = asterisk.next_number()
    caller = Caller(number, "CB-KEY-1", hangup_after_s=40, keys="1")
    service.callbacks.diallers.main.holding = True  # promise, but do not call back during the test
    await asyncio.to_thread(asterisk.pause_members, True, "callback-tests", ["agent1"])
    try:
        result = await asyncio.to_thread(asterisk.run_calls, [caller], agents=[])
    finally:
        await asyncio.to_thread(asterisk.pause_members, False, "", ["agent1"])
    assert result.events("EXITWITHKEY"), [e.event for e in result.queue_log]
    assert result.calls[0].ok, "the resident's call should end with Asterisk's BYE"
    await service.callbacks.service.drain()
    (cb,) = (await service.callbacks.repo.find(CallbackQuery(case_ref="CB-KEY-1"))).items
    assert cb.source is Source.QUEUE_KEYPRESS and cb.phone.endswith(number[1:])
    told = [h for h in cb.history if h.action == "told"]
    assert told and told[0].told == "phone" and told[0].new == cb.due_by.isoformat()
    await service.callbacks.service.cancel(cb.id or 0, "test over", "test")


async def test_abandoned_call_becomes_a_callback(service: Service,
                                                 asterisk: AsteriskHarness) -> None:
    service.callbacks.diallers.main.holding = True  # promise, but do not call back during the test
    result = await asyncio.to_thread(asterisk.abandoned, wait_s=4)
    number = result.numbers[0]

    async def created() -> list[Callback]:
        await service.calllog.flush()
        await service.callbacks.service.drain()
        items = (await service.callbacks.repo.find(CallbackQuery())).items
        return [c for c in items if c.phone.endswith(number[1:])]

    found: list[Callback] = []
    deadline = time.monotonic() + 20
    while not found and time.monotonic() < deadline:
        found = await created()
        await asyncio.sleep(0.2)
    (cb,) = found
    assert cb.source is Source.ABANDONED and cb.promised_by == "Customer Services"
    assert cb.source_linkedid == result.events("ENTERQUEUE")[0].callid
    await service.callbacks.service.cancel(cb.id or 0, "test over", "test")


