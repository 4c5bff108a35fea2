"""The post-call survey's figures through the real service: per queue in /api/standards (and
its CSV, and the pages), per agent only for managers (?agents=yes, /standards)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import aiohttp

from callcentre.app import Service
from callcentre.domain.calls import Call, EndSource, Outcome
from callcentre.storage.call_repository import SqliteCallRepository
from tests.adapters.test_access import served

__all__ = ["served"]  # the fixture

# (resolved, satisfaction) of each call; None: the survey was not offered (resident hung up)
ANSWERS = [(True, 5), (False, 2), (None, None), (True, None), None]


def _start(svc: Service) -> datetime:
    """Half an hour ago, moved back so that the calls' six minutes fall in one local day."""
    start = (svc.clock.now() - timedelta(minutes=30)).astimezone(svc.config.tz)
    if (start + timedelta(minutes=6)).date() != start.date():
        start -= timedelta(minutes=10)
    return start


def _calls(start: datetime) -> list[Call]:
    calls = []
    for i, answer in enumerate(ANSWERS):
        at = start + timedelta(minutes=i)
        call = Call(linkedid=f"s.{i}", channel="c", arrived_at=at, queue="council",
                    queued_at=at, answered_at=at + timedelta(seconds=5),
                    agent_interface=f"PJSIP/agent{1 + i % 2}", agent_name=f"Agent {1 + i % 2}",
                    ended_at=at + timedelta(seconds=90), outcome=Outcome.ANSWERED,
                    end_source=EndSource.HANGUP)
        if answer is not None:
            call = replace(call, survey_offered=True, survey_resolved=answer[0],
                           survey_satisfaction=answer[1])
        calls.append(call)
    return calls


async def test_survey_figures_per_queue_are_published_and_per_agent_are_managers(
        served: tuple[Service, dict[str, str]]) -> None:
    svc, tokens = served
    start = _start(svc)
    await SqliteCallRepository(svc.db).save(_calls(start))
    day = f"period=day&date={start.date()}"  # the calls' day, even just after midnight
    base = f"http://127.0.0.1:{svc.config.http_port}"
    manager = {"Authorization": f"Bearer {tokens['manager']}"}
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/api/standards?{day}") as resp:
            figures = {f["key"]: f for f in (await resp.json())["figures"]}
        async with http.get(f"{base}/api/standards.csv?{day}") as resp:
            csv_text = await resp.text()
        for who, status in ((None, 401), ("agent", 403)):
            headers = {"Authorization": f"Bearer {tokens[who]}"} if who else {}
            async with http.get(f"{base}/api/standards?agents=yes", headers=headers) as r:
                assert r.status == status, who
        async with http.get(f"{base}/api/standards?{day}&agents=yes&queue=council",
                            headers=manager) as resp:
            agents = {a["agent"]: a for a in (await resp.json())["survey_agents"]}
        async with http.get(f"{base}/standards?{day}", headers=manager) as resp:
            page = await resp.text()
        async with http.get(f"{base}/public/standards?{day}") as resp:
            public = await resp.text()
    assert figures["survey_response_rate"]["value"] == 0.75  # 3 of 4 offered answered
    assert figures["first_contact_resolution"]["value"] == 2 / 3
    assert figures["satisfaction"]["value"] == 3.5
    assert "first_contact_resolution" not in csv_text  # the CSV names figures by their title
    assert "Resolved on the first call" in csv_text
    assert agents["Agent 1"]["offered"] == 2 and agents["Agent 2"]["offered"] == 2
    assert agents["Agent 1"]["mean_satisfaction"] == 5.0  # (True, 5) and (None, None)
    assert agents["Agent 2"]["first_contact_resolution"] == 0.5
    assert "After-call survey by agent" in page and "Agent 1" in page
    assert "Satisfaction" in public and "Agent 1" not in public
