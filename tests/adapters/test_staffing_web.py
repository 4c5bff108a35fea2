"""Staffing advice through the real service: a manager's, in /api/standards?staffing=yes and
on /standards, from the calls stored in the weeks before today."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import aiohttp

from callcentre.app import Service
from callcentre.domain.calls import Call, EndSource, Outcome
from callcentre.domain.erlang import agents_needed
from callcentre.storage.call_repository import SqliteCallRepository
from tests.adapters.test_access import served

__all__ = ["served"]  # the fixture


def history(svc: Service, today: date, queue: str = "council", per_day: int = 20,
            ) -> list[Call]:
    """Six weeks of every day 10:00-10:30 in ``queue``: ``per_day`` residents, the first two
    giving up after 40 s, the rest answered (5 s wait, 200 s talk) by four agents."""
    calls = []
    for d in range(1, 43):
        ten = datetime.combine(today - timedelta(days=d), time(10), svc.config.tz)
        for i in range(per_day):
            arrived = ten + timedelta(seconds=1800 / per_day * i)
            queued = arrived + timedelta(seconds=1)
            gone = i < 2
            end = queued + timedelta(seconds=40 if gone else 5)
            calls.append(Call(
                linkedid=f"{queue}.{d}.{i}", channel="c", arrived_at=arrived, queue=queue,
                queued_at=queued, answered_at=None if gone else end,
                left_queue_at=end if gone else None, agent_interface=f"PJSIP/{i % 4}",
                talk_ended_at=None if gone else end + timedelta(seconds=200),
                ended_at=end + timedelta(seconds=0 if gone else 200),
                outcome=Outcome.ABANDONED if gone else Outcome.ANSWERED,
                end_source=EndSource.HANGUP))
    return calls


async def test_staffing_is_a_managers_and_follows_the_history(
        served: tuple[Service, dict[str, str]]) -> None:
    svc, tokens = served
    today = svc.clock.now().astimezone(svc.config.tz).date()
    await SqliteCallRepository(svc.db).save(history(svc, today))
    base = f"http://127.0.0.1:{svc.config.http_port}"
    url = f"{base}/api/standards?staffing=yes&queue=council"
    async with aiohttp.ClientSession() as http:
        for who, status in ((None, 401), ("agent", 403)):
            headers = {"Authorization": f"Bearer {tokens[who]}"} if who else {}
            async with http.get(f"{base}/api/standards?staffing=yes", headers=headers) as r:
                assert r.status == status, who
        manager = {"Authorization": f"Bearer {tokens['manager']}"}
        async with http.get(url, headers=manager) as resp:
            assert resp.status == 200
            staffing = (await resp.json())["staffing"]
        async with http.get(f"{base}/api/standards?staffing=maybe", headers=manager) as resp:
            assert resp.status == 422
        async with http.get(f"{base}/standards?queue=council", headers=manager) as resp:
            page = await resp.text()
    model = staffing["model"]
    assert (model["calls"], model["abandoned"], model["method"]) == (840, 84, "Erlang A")
    assert model["handling_seconds"] == 200.0
    patience = (18 * 5 + 2 * 40) * 42 / 84  # every wait / abandons
    assert model["patience_seconds"] == round(patience, 1)
    half_hours = staffing["half_hours"]
    assert len(half_hours) == 7 and {h["calls"] for h in half_hours} == {20}
    want = agents_needed(20 / 1800, 1 / 200, 1 / patience, 20, 0.8)
    assert {h["needed"] for h in half_hours} == {want}
    assert {h["had"] for h in half_hours} == {4}  # four different agents answered
    assert all(h["start"][11:16] == "10:00" for h in half_hours)
    levels = [row["service_level"] for row in staffing["what_if"]["agents"]]
    assert levels == sorted(levels)
    assert "Staffing for the week from" in page and "What if" in page
