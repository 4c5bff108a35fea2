"""Two real Asterisks as two sites of one council (#13): one service logs both, each call
once, named by its site, with the outcome and wait its own PBX's queue_log gives it; and
dials each site's callbacks through its own Asterisk."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from callcentre.app import Service
from callcentre.config import Pbx
from callcentre.domain.callbacks import Result, Status
from callcentre.domain.calls import Call
from callcentre.services.callbacks import NewCallback
from tests.asterisk.harness import AsteriskHarness, ScenarioResult
from tests.integration.test_callbacks_kill_real import originates
from tests.integration.test_callbacks_real import POLICY, callback_phones, wait_for, wait_until
from tests.integration.test_calls_real import config_for, scenario
from tests.integration.test_ledger_real import assert_as_queue_log, queue_log_of, settled_calls

# slow: two PBXs' bursts in real time; left out of the shifted-clock runs (tests/clock-shifts.sh)
pytestmark = [pytest.mark.asterisk, pytest.mark.slow]


def pbx(name: str, asterisk: AsteriskHarness) -> Pbx:
    return Pbx(name, asterisk.ami_host, asterisk.ami_port, asterisk.ami_username,
               asterisk.ami_secret, queue_log_of(asterisk))


async def both_resynced(service: Service) -> None:
    for site in service.sites:
        await site.ami.wait_connected(15)
    for _ in range(150):
        if all(site.resync.runs for site in service.sites):
            return
        await asyncio.sleep(0.1)
    raise AssertionError("a site's resync did not run after connecting")


def as_logged(result: ScenarioResult, calls: dict[str, Call], prefix: str
              ) -> dict[str, tuple[str | None, float | None]]:
    """The stored calls of ``result``'s PBX, by Asterisk's own ids."""
    return {c.linkedid.removeprefix(prefix): (c.outcome.value if c.outcome else None,
                                              c.wait_seconds)
            for c in calls.values() if c.linkedid.startswith(prefix) or not prefix}


async def figures_per_site(service: Service, calls: dict[str, Call],
                           offered: dict[str, int]) -> None:
    """The standards of each site count its own PBX's calls; the council's, all of them."""
    days = {c.arrived_at.astimezone(service.config.tz).date() for c in calls.values()}
    first, end = min(days), max(days) + timedelta(days=1)  # a burst may straddle midnight
    standards = service.standards
    for site, want in offered.items():
        scope = await standards.scope(None, site)
        assert (await standards.standards(first, end, scope)).offered == want, site
    assert (await standards.standards(first, end, None)).offered == sum(offered.values())


async def test_two_pbxs_each_call_once_as_its_own_queue_log_says(
        asterisk: AsteriskHarness, north: AsteriskHarness, tmp_path: Path) -> None:
    config = replace(config_for(asterisk, tmp_path / "cc.sqlite3"),
                     pbx=(pbx("main", asterisk), pbx("north", north)))
    async with Service(config).running() as service:
        await both_resynced(service)
        marks = asterisk.mark(), north.mark()
        main_burst = scenario(asterisk.burst, callers=6, agents=2, talk_s=1.0)
        north_burst = scenario(north.burst, callers=6, agents=2, talk_s=1.0)
        at_main, at_north = await asyncio.gather(main_burst, north_burst)
        at_north_abandoned = await scenario(north.abandoned, wait_s=8.0)  # not a short one
        main_ids = {e.callid for e in at_main.events("ENTERQUEUE")}
        north_ids = {e.callid for e in at_north.events("ENTERQUEUE")}
        north_ids |= {e.callid for e in at_north_abandoned.events("ENTERQUEUE")}
        assert len(main_ids) == 6 and len(north_ids) == 7
        calls = await settled_calls(service, main_ids | {f"north:{i}" for i in north_ids})
        assert_as_queue_log(at_main, as_logged(at_main, {k: v for k, v in calls.items()
                                                         if ":" not in k}, ""))
        north_calls = {k: v for k, v in calls.items() if k.startswith("north:")}
        both = replace(at_north, queue_log=at_north.queue_log + at_north_abandoned.queue_log)
        assert_as_queue_log(both, as_logged(both, north_calls, "north:"))
        assert {c.queue for c in calls.values()} == {"council", "north:council"}
        assert {c.queue for c in north_calls.values()} == {"north:council"}
        # every resident each Asterisk queued meanwhile: a burst placed again (CallerLost)
        # leaves the first one's calls in the day's figures too
        queued = [len([e for e in pbx.queue_log_since(mark) if e.event == "ENTERQUEUE"])
                  for pbx, mark in zip((asterisk, north), marks, strict=True)]
        await figures_per_site(service, calls, dict(zip(("main", "north"), queued, strict=True)))
        health = await service.monitoring.health()
        assert [(p["pbx"], p["ami"], p["role"]) for p in health["pbxs"]] == [
            ("main", "connected", "sole"), ("north", "connected", "sole")]
        assert health["pbxs"][1]["queue_log"] == queue_log_of(north)
        assert {p["queue_log_state"] for p in health["pbxs"]} == {"reading"}


async def test_each_pbx_dials_its_own_callbacks_once(
        asterisk: AsteriskHarness, north: AsteriskHarness, tmp_path: Path) -> None:
    """A callback promised for each site is dialled through that site's Asterisk, to its
    own agent, once: each Asterisk's CDR holds its own callback's call and not the other's;
    both residents confirm and both promises are kept."""
    policy = tmp_path / "callbacks-policy.toml"
    policy.write_text(POLICY)
    config = replace(config_for(asterisk, tmp_path / "cc.sqlite3"),
                     pbx=(pbx("main", asterisk), pbx("north", north)),
                     policy_file=str(policy), callback_agent_ring_seconds=4)
    for harness in (asterisk, north):
        await asyncio.to_thread(harness.pause_members, True, "site-tests", ["agent2", "agent3"])
    try:
        async with Service(config).running() as service:
            await both_resynced(service)
            await wait_until(lambda: [a.interface for a in
                                      service.callbacks.diallers.board.available()]
                             == ["PJSIP/agent1"] * 2, 15)
            marks = asterisk.mark(), north.mark()
            async with callback_phones(asterisk, agent_ring_s=1, resident_ring_s=1, talk_s=3,
                                       keys="1"), \
                    callback_phones(north, agent_ring_s=1, resident_ring_s=1, talk_s=3,
                                    keys="1"):
                made = [await service.callbacks.service.create(NewCallback(
                    f"0770090055{n}", "Repair date", "Sam", site=site))
                    for n, site in enumerate(("main", "north"))]
                done = [await wait_for(service, cb.id or 0, lambda c: c.status is Status.CLOSED)
                        for cb in made]
            assert [(c.site, c.result) for c in done] == [("", Result.KEPT),
                                                          ("north", Result.KEPT)]
            for harness, mark, cb in zip((asterisk, north), marks, made, strict=True):
                await asyncio.to_thread(harness.wait_idle)
                assert originates(harness, mark) == [f"callback-{cb.id}-1"]
    finally:
        for harness in (asterisk, north):
            await asyncio.to_thread(harness.pause_members, False, "", ["agent2", "agent3"])
