"""Language end to end on the real Asterisk 22, with prompts spoken by espeak-ng.

The prompts (tests/asterisk/prompts.py: callcentre/language-choice and
callcentre/case-reference in English and Irish) are written into the chroot's sounds
directory first. A resident dials 2004 (overlay: CALLCENTRE_LANGUAGES=en&ga for that call),
keys 2 during the menu, hears the case-reference prompt from sounds/ga/ (Asterisk's own
log says which file it played, and in which language), waits in council-ga and is answered
by agent2, its only member. Then a callback in Irish goes to agent2 although agent1 is free.
Modelled on tests/fixtures/ami/language.ami and callback_language.ami.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest

from callcentre.app import Service
from callcentre.domain.callbacks import Result, Status
from callcentre.domain.calls import Outcome
from callcentre.services.callbacks import NewCallback
from tests.asterisk import prompts, scenarios
from tests.asterisk.harness import AsteriskHarness
from tests.integration.test_callbacks_real import POLICY, callback_phones, wait_for
from tests.integration.test_calls_real import (
    check,
    config_for,
    scenario,
    service,
    started,
    wait_until,
)

pytestmark = pytest.mark.asterisk
__all__ = ["service"]  # the fixture
VERBOSE_LOG = "language-test.log"  # a temporary logger channel, in the session's log dir
CASE_PROMPT = "callcentre/case-reference"
CASE_TIMEOUT = 4  # CALLCENTRE_CASE_TIMEOUT (dialplans/extensions.conf)
_EXECUTING = re.compile(r"^\[(?P<at>[0-9-]+ [0-9:.]+)\].*Executing \[1000@council-inbound:"
                        r"[0-9]+\] (?P<app>\w+)\(")


def read_seconds(log: str) -> float:
    """From Read() of the case reference to the next step of council-inbound."""
    steps = [(datetime.fromisoformat(m["at"]), m["app"]) for m in
             map(_EXECUTING.match, log.splitlines()) if m]
    i = next(n for n, (_, app) in enumerate(steps) if app == "Read")
    return (steps[i + 1][0] - steps[i][0]).total_seconds()


@pytest.fixture(scope="module")
def spoken(asterisk: AsteriskHarness) -> AsteriskHarness:
    """The harness with espeak-ng's prompts installed (skips without espeak-ng)."""
    try:
        prompts.install(asterisk.root)
    except prompts.PromptsUnavailable as err:
        pytest.skip(str(err))
    return asterisk


@contextlib.contextmanager
def verbose_log(asterisk: AsteriskHarness) -> Iterator[Path]:
    """Asterisk's verbose messages ("Playing 'x.sln' (language 'ga')") in a file, for now."""
    asterisk.cli(f"logger add channel {VERBOSE_LOG} verbose")
    try:
        yield asterisk.log_dir / VERBOSE_LOG
    finally:
        asterisk.cli(f"logger remove channel {VERBOSE_LOG}")


async def test_the_resident_picks_irish_hears_it_and_an_irish_speaker_answers(
        service: Service, spoken: AsteriskHarness) -> None:
    with verbose_log(spoken) as log:
        result = await scenario(scenarios.language, asterisk=spoken, key="2")
        played = log.read_text() if log.exists() else ""
    assert [(e.queue, e.event) for e in result.queue_log] == [
        ("council-ga", "ENTERQUEUE"), ("council-ga", "CONNECT"), ("council-ga", "COMPLETEAGENT")]
    assert result.queue_log[1].agent == "Agent 2"
    # Asterisk names the language it asked for; how long Read() took says which file it
    # found: the Irish recording (3.3 s), not the English one (2.2 s), then its 4 s timeout
    assert "Playing 'callcentre/case-reference.slin' (language 'ga')" in played, played
    assert "Playing 'callcentre/language-choice.slin' (language 'en')" in played
    took = read_seconds(played)
    irish = prompts.seconds(spoken.root, "ga", CASE_PROMPT)
    assert abs(prompts.seconds(spoken.root, "en", CASE_PROMPT) - irish) > 0.8
    assert abs(took - (irish + CASE_TIMEOUT)) < 0.4, (took, irish)
    (call,) = (await check(service, result)).values()
    assert call.outcome is Outcome.ANSWERED and call.queue == "council-ga"
    assert (call.language, call.agent_interface) == ("ga", "PJSIP/agent2")


async def test_no_key_keeps_the_default_language(service: Service,
                                                 spoken: AsteriskHarness) -> None:
    result = await scenario(scenarios.language, asterisk=spoken, key="")
    assert {e.queue for e in result.queue_log} == {"council"}
    (call,) = (await check(service, result)).values()
    assert call.language == "en" and call.outcome is Outcome.ANSWERED


@pytest.fixture
async def irish_service(spoken: AsteriskHarness, tmp_path: Path) -> AsyncIterator[Service]:
    """English and Irish; agent1 (English) and agent2 (both: council-ga's member for the
    test) free, agent3 paused."""
    policy = tmp_path / "callbacks-policy.toml"
    policy.write_text(POLICY)  # owner_hold_back 0: a speaker is waited for until the deadline
    cfg = replace(config_for(spoken, tmp_path / "cc.sqlite3"), policy_file=str(policy),
                  callback_agent_ring_seconds=4, languages=("en", "ga"))
    await asyncio.to_thread(spoken.pause_members, True, "language-tests", ["agent3"])
    try:
        with scenarios.irish_speaker(spoken):
            async with Service(cfg).running() as svc:
                await started(svc)
                board = svc.callbacks.diallers.main.board
                await wait_until(lambda: {"PJSIP/agent1", "PJSIP/agent2"} <= {
                    a.interface for a in board.available()}, 15)
                await wait_until(lambda: any(a.speaks("ga", cfg.languages)
                                             for a in board.available()), 15)
                yield svc
    finally:
        await asyncio.to_thread(spoken.pause_members, False, "", ["agent3"])


async def test_a_callback_in_irish_goes_to_the_irish_speaker(
        irish_service: Service, spoken: AsteriskHarness) -> None:
    svc = irish_service
    with contextlib.suppress(Exception):
        await svc.case_service.create("CB-LANG-1", "Callback in Irish", None)
    async with callback_phones(spoken, agent="agent2", agent_ring_s=1, resident_ring_s=1,
                               talk_s=6, keys="1"):
        cb = await svc.callbacks.service.create(NewCallback(
            "07700900557", "Repair date", "Sam", "CB-LANG-1", language="ga"))
        done = await wait_for(svc, cb.id or 0, lambda c: c.status is Status.CLOSED)
    assert done.result is Result.KEPT, done
    assert [a.agent for a in done.attempts] == ["PJSIP/agent2"]


async def test_with_no_speaker_any_agent_answers_after_the_language_wait(
        service: Service, spoken: AsteriskHarness) -> None:
    result = await scenario(scenarios.language, asterisk=spoken, key="2", speaker=False)
    assert [(e.queue, e.event) for e in result.queue_log] == [
        ("council-ga", "ENTERQUEUE"), ("council-ga", "EXITWITHTIMEOUT"),
        ("council", "ENTERQUEUE"), ("council", "CONNECT"), ("council", "COMPLETEAGENT")]
    (call,) = (await check(service, result)).values()
    assert call.outcome is Outcome.ANSWERED and call.language == "ga"
