"""The post-call survey on a real Asterisk 22: the agent hangs up first, Queue() option c
keeps the resident on, they key their answers as RFC 2833 DTMF (sipp playing its own
telephone-event recordings), and the answers land on that call and in /api/standards.
Modelled on tests/fixtures/ami/survey.ami, captured from this scenario."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from callcentre.app import Service
from callcentre.domain.callbacks import Result, Status
from callcentre.domain.calls import Outcome
from tests.asterisk import scenarios
from tests.asterisk.harness import AsteriskHarness
from tests.integration.test_callbacks_real import (
    POLICY,
    callback_phones,
    promise,
    running,
    wait_for,
)
from tests.integration.test_calls_real import check, scenario, service

pytestmark = pytest.mark.asterisk
__all__ = ["service"]  # the fixture


async def _standards(svc: Service) -> dict[str, float | None]:
    url = f"http://127.0.0.1:{svc.config.http_port}/api/standards?period=day"
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        assert resp.status == 200
        return {f["key"]: f["value"] for f in (await resp.json())["figures"]}


async def test_the_residents_keys_land_on_the_call_and_in_the_standards(
        service: Service, asterisk: AsteriskHarness) -> None:
    result = await scenario(scenarios.survey, asterisk=asterisk, keys="14")
    assert [e.event for e in result.queue_log] == ["ENTERQUEUE", "CONNECT", "COMPLETEAGENT"]
    (call,) = (await check(service, result)).values()
    assert call.outcome is Outcome.ANSWERED and call.queue_status == "CONTINUE"
    assert (call.survey_offered, call.survey_resolved, call.survey_satisfaction) == (True, True, 4)
    completed = result.events("COMPLETEAGENT")[0]
    assert call.talk_seconds is not None  # the agent's talk, not the survey's minutes
    assert abs(call.talk_seconds - int(completed.data[1])) < 1.0
    figures = await _standards(service)
    assert figures["survey_response_rate"] == 1.0
    assert figures["first_contact_resolution"] == 1.0
    assert figures["satisfaction"] == 4.0


async def test_a_resident_who_keys_nothing_skips_every_question(
        service: Service, asterisk: AsteriskHarness) -> None:
    result = await scenario(scenarios.survey, asterisk=asterisk, keys="")
    (call,) = (await check(service, result)).values()
    assert (call.survey_offered, call.survey_resolved, call.survey_satisfaction) == (True, None,
                                                                                     None)
    figures = await _standards(service)
    assert figures["survey_response_rate"] == 0.0 and figures["satisfaction"] is None


async def test_a_resident_who_hangs_up_mid_survey_skips_the_rest(
        service: Service, asterisk: AsteriskHarness) -> None:
    result = await scenario(scenarios.survey, asterisk=asterisk, keys="2", hang_up_s=1)
    (call,) = (await check(service, result)).values()
    assert (call.survey_offered, call.survey_resolved, call.survey_satisfaction) == (True, False,
                                                                                     None)
    assert call.outcome is Outcome.ANSWERED


async def test_after_a_callback_the_residents_keys_land_on_its_attempt(
        tmp_path: Path, asterisk: AsteriskHarness) -> None:
    """As tests/fixtures/ami/callback_survey.ami: a confirmed callback, no announcement, the
    agent hangs up 6 s after answering, the resident keys 1 and 4 (RFC 2833) in the survey."""
    with scenarios.globals_set(asterisk, CALLCENTRE_SURVEY=("yes", "no"),
                               CALLCENTRE_CALLBACK_ANNOUNCE=("no", "yes")):
        async with running(asterisk, tmp_path, POLICY) as svc, callback_phones(
                asterisk, agent_ring_s=1, resident_ring_s=1, talk_s=30, keys="1",
                agent_talk_s=6, survey_keys="14"):
            cb = await promise(svc, "CB-SURVEY-1")
            done = await wait_for(svc, cb.id or 0, lambda c: c.status is Status.CLOSED
                                  and c.attempts[0].survey_satisfaction is not None)
    assert done.result is Result.KEPT
    (attempt,) = done.attempts
    assert (attempt.survey_offered, attempt.survey_resolved, attempt.survey_satisfaction) == (
        True, True, 4)
