"""The estimated wait and the callback offer on a real Asterisk 22 (#14).

The service runs in-process against the harness with queue_log as its ledger and
``callback_offer_wait_seconds`` = 30. Agent1 is busy with one resident, agents 2 and 3 are
paused, and the queue's recent handling time is 120 s (seeded: a fresh database has no
history), so the next resident waits about 2 minutes: over the threshold. They hear the wait
and the offer (UserEvent CallcentreWaitTold), press 1 back in the queue, and are promised
exactly the time they were offered. The loop that says the wait periodically is
tests/fixtures/ami/wait_loop.* (scenarios.wait_loop), checked in tests/unit/test_queue_log.py.
"""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from callcentre.app import Service
from callcentre.domain.callback_policy import Source
from callcentre.domain.calls import Outcome
from callcentre.domain.waits import WaitAnnounced, WaitAsked
from callcentre.ports import CallbackQuery
from tests.asterisk import scenarios
from tests.asterisk.harness import AsteriskHarness, CallerLost
from tests.integration.test_calls_real import check, config_for, scenario, started
from tests.integration.test_ledger_real import queue_log_of, settled_calls

# slow: about 75 s of announcements, left out of the shifted-clock runs. The time offered is
# the promise's (CallbackService.offer_due, the same as key 1's), whose hours those runs test
# with test_callbacks_real's keypress test; the estimate itself depends on no hour.
pytestmark = [pytest.mark.asterisk, pytest.mark.slow]

HANDLING_S = 120.0


@pytest.fixture
async def service(asterisk: AsteriskHarness, tmp_path: Path) -> AsyncIterator[Service]:
    cfg = replace(config_for(asterisk, tmp_path / "cc.sqlite3", queue_log=queue_log_of(asterisk)),
                  callback_offer_wait_seconds=30.0)
    async with Service(cfg).running() as svc:
        for _ in range(5):  # the queue's last answered calls, as if seen live
            svc.waits.recent.add("council", HANDLING_S)
        yield await started(svc)


async def test_a_long_wait_is_told_with_an_offer_and_key_1_promises_the_offered_time(
        service: Service, asterisk: AsteriskHarness) -> None:
    asked: list[WaitAsked] = []
    told: list[WaitAnnounced] = []
    service.bus.subscribe(WaitAsked, asked.append)
    service.bus.subscribe(WaitAnnounced, told.append)
    try:
        result = await scenario(scenarios.wait_offer, asterisk=asterisk)
    except CallerLost as lost:  # sipp's, not the PBX's: place the calls again once
        warnings.warn(f"wait_offer placed again: {lost}", stacklevel=1)
        asked.clear()
        told.clear()
        result = await scenario(scenarios.wait_offer, asterisk=asterisk)
    busy, offered = result.numbers
    assert [e.event for e in result.queue_log if e.data[1:2] == [offered]
            or e.callid == result.uniqueid_of(offered)] == ["ENTERQUEUE", "EXITWITHKEY"]
    # what the dialplan said is what the service answered: 1 busy agent at 120 s, first in line
    # (resident A's dialplan asks too, but the test overlay gives no time to answer: 1000)
    (said,) = told
    assert said.linkedid == result.uniqueid_of(offered)
    assert [q.queue for q in asked if q.linkedid == said.linkedid] == ["council"]
    assert (said.queue, said.seconds) == ("council", HANDLING_S)
    assert said.offered_due is not None
    # key 1 promised exactly the time offered
    (cb,) = (await service.callbacks.repo.find(CallbackQuery())).items
    assert cb.source is Source.QUEUE_KEYPRESS and cb.source_linkedid == said.linkedid
    assert int(cb.due_by.timestamp()) == int(said.offered_due.timestamp())
    # one call each, agreeing with queue_log (AMI record), then settled by the ledger
    calls = await check(service, result)
    assert calls[said.linkedid].outcome is Outcome.EXIT_WITH_KEY
    settled = await settled_calls(service, set(calls))
    assert {c.ledger for c in settled.values()} == {"agrees"}
    sample = service.registry.get_sample_value
    assert sample("callcentre_wait_estimates_told_total", {"queue": "council"}) == 1
    assert sample("callcentre_wait_callback_offers_total",
                  {"queue": "council", "result": "made"}) == 1
    assert sample("callcentre_wait_callback_offers_total",
                  {"queue": "council", "result": "taken"}) == 1
    assert calls[result.uniqueid_of(busy)].outcome is Outcome.ANSWERED
