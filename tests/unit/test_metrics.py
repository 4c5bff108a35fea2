"""Metrics on a fresh, injected registry; values read back with get_sample_value."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

from prometheus_client import CollectorRegistry, generate_latest

from callcentre.domain.callback_figures import CallbackCounts
from callcentre.domain.calls import Call, EndSource, Outcome
from callcentre.domain.live import LeaderReport, RuntimeReport, queue_waiting
from callcentre.observability.prometheus import CallMetrics, LiveCollector, LiveSnapshot
from callcentre.testing import utc

T0 = utc(2026, 11, 23, 10, 0)


def call(outcome: Outcome, wait: float, **kw: object) -> Call:
    base = Call(linkedid="1", channel="c", arrived_at=T0, caller="+447700900123", queue="council",
                queued_at=T0, ended_at=T0 + timedelta(minutes=5), outcome=outcome,
                end_source=EndSource.HANGUP)
    if outcome is Outcome.ANSWERED:
        base = replace(base, answered_at=T0 + timedelta(seconds=wait))
    else:
        base = replace(base, left_queue_at=T0 + timedelta(seconds=wait), abandoned=True)
    return replace(base, **kw)  # type: ignore[arg-type]


def test_finished_calls_are_counted_and_waits_bucketed_at_thresholds() -> None:
    registry = CollectorRegistry()
    metrics = CallMetrics(registry, [20, 45.5])
    metrics.call_finished(call(Outcome.ANSWERED, 19.9))
    metrics.call_finished(call(Outcome.ANSWERED, 45.0, repeat_of=7))
    metrics.call_finished(call(Outcome.ABANDONED, 3.0, out_of_hours=True))
    get = registry.get_sample_value
    assert get("callcentre_calls_total", {"queue": "council", "outcome": "answered"}) == 2
    assert get("callcentre_calls_total", {"queue": "council", "outcome": "abandoned"}) == 1
    assert get("callcentre_answer_wait_seconds_bucket", {"queue": "council", "le": "20.0"}) == 1
    assert get("callcentre_answer_wait_seconds_bucket", {"queue": "council", "le": "45.5"}) == 2
    assert get("callcentre_abandon_wait_seconds_count", {"queue": "council"}) == 1
    assert get("callcentre_repeat_contacts_total", {"queue": "council"}) == 1
    assert get("callcentre_out_of_hours_calls_total", {"queue": "council"}) == 1
    assert b"+447700900123" not in generate_latest(registry)


def test_live_collector_reports_the_snapshot() -> None:
    registry = CollectorRegistry()
    snap = LiveSnapshot(ami_connected=True, reconnects=2, last_event_age=1.5,
                        events={("QueueCallerJoin", "handled"): 3, ("TestEvent", "ignored"): 9},
                        parse_errors={"oversized_frame": 1}, waiting={"council": (2, 31.0)},
                        in_progress=3)
    registry.register(LiveCollector(lambda: snap))
    get = registry.get_sample_value
    assert get("callcentre_ami_connected") == 1
    assert get("callcentre_ami_reconnects_total") == 2
    assert get("callcentre_ami_events_total", {"event": "TestEvent", "result": "ignored"}) == 9
    assert get("callcentre_ami_parse_errors_total", {"kind": "oversized_frame"}) == 1
    assert get("callcentre_queue_callers_waiting", {"queue": "council"}) == 2
    assert get("callcentre_queue_longest_wait_seconds", {"queue": "council"}) == 31.0
    assert get("callcentre_calls_in_progress") == 3


def test_figures_read_from_the_database_come_from_the_leader_alone() -> None:
    """Two instances scraped and summed by Prometheus: the standby adds 0 to every callback
    figure the database holds, and the leader gauge says which instance reported them."""
    counts = CallbackCounts(promised={"agent": 7}, at_risk=2)

    def scraped(role: str) -> CollectorRegistry:
        runtime = RuntimeReport(leader=LeaderReport("main", role, role))
        registry = CollectorRegistry()
        registry.register(LiveCollector(lambda: LiveSnapshot(callbacks=counts,
                                                             runtime=runtime)))
        return registry

    summed: dict[str, float] = {}
    for role, leads in (("leader", 1.0), ("standby", 0.0)):
        registry = scraped(role)
        assert registry.get_sample_value("callcentre_leader") == leads
        for name, labels in (("callcentre_callbacks_promised_total", {"source": "agent"}),
                             ("callcentre_callbacks_at_risk", {})):
            summed[name] = summed.get(name, 0.0) + (
                registry.get_sample_value(name, labels) or 0.0)
    assert summed == {"callcentre_callbacks_promised_total": 7.0,
                      "callcentre_callbacks_at_risk": 2.0}
    assert scraped("sole").get_sample_value("callcentre_callbacks_at_risk") == 2.0


def test_event_label_is_bounded() -> None:
    registry = CollectorRegistry()
    events = {(f"Ev{i}", "ignored"): 1 for i in range(400)}
    registry.register(LiveCollector(lambda: LiveSnapshot(events=events)))
    text = generate_latest(registry).decode()
    assert text.count("callcentre_ami_events_total{") <= 151
    assert registry.get_sample_value("callcentre_ami_events_total",
                                     {"event": "other", "result": "ignored"}) == 250


def test_queue_waiting_counts_only_callers_still_queued() -> None:
    waiting = Call(linkedid="1", channel="c", arrived_at=T0, queue="council", queued_at=T0)
    answered = replace(waiting, linkedid="2", answered_at=T0 + timedelta(seconds=3))
    newer = replace(waiting, linkedid="3", queued_at=T0 + timedelta(seconds=50))
    assert queue_waiting([waiting, answered, newer], T0 + timedelta(seconds=60)) == {
        "council": (2, 60.0)}


def test_touching_a_queue_creates_its_series_at_zero() -> None:
    registry = CollectorRegistry()
    metrics = CallMetrics(registry, [20])
    metrics.touch_queue("council")
    get = registry.get_sample_value
    assert get("callcentre_calls_total", {"queue": "council", "outcome": "answered"}) == 0
    assert get("callcentre_answer_wait_seconds_bucket", {"queue": "council", "le": "20.0"}) == 0
    assert get("callcentre_abandon_wait_seconds_bucket", {"queue": "council", "le": "5.0"}) == 0


async def test_callback_counts_are_fetched_at_most_once_per_ttl() -> None:
    from callcentre.domain.callback_figures import CallbackCounts
    from callcentre.services.monitoring import SnapshotCache

    fetched: list[int] = []
    clock = [100.0]

    async def counts() -> CallbackCounts:
        fetched.append(1)
        return CallbackCounts(promised={"agent": len(fetched)}, at_risk=2, overdue=1,
                              open_by_state={"pending": 3})

    cache = SnapshotCache(lambda c: LiveSnapshot(callbacks=c), counts, ttl=2.0,
                          monotonic=lambda: clock[0])
    await cache.refresh()  # the first refresh waits for the counts
    await cache.refresh()
    clock[0] += 2.5
    await cache.refresh()  # stale: served as they are, new ones fetched in the background
    await cache.refresh()  # (only one fetch at a time)
    await asyncio.sleep(0)
    assert len(fetched) == 2
    await cache.refresh()
    registry = CollectorRegistry()
    registry.register(LiveCollector(cache))
    get = registry.get_sample_value
    assert get("callcentre_callbacks_promised_total", {"source": "agent"}) == 2
    assert get("callcentre_callbacks_at_risk") == 2 and get("callcentre_callbacks_overdue") == 1
    assert get("callcentre_callbacks_open", {"state": "pending"}) == 3
    assert get("callcentre_callbacks_open", {"state": "dialling"}) == 0


def test_agents_are_counted_per_queue_by_state() -> None:
    from callcentre.domain.agents import Agent
    from callcentre.domain.live import agent_states

    both = frozenset({"council", "housing"})
    agents = [Agent("PJSIP/a1", "A", both), Agent("PJSIP/a2", "B", both, paused=True),
              Agent("PJSIP/a3", "C", frozenset({"council"}), in_call=True),
              Agent("PJSIP/a4", "D", frozenset({"council"}), status=5)]
    states = agent_states(agents)
    assert states["council"] == {"available": 1, "busy": 1, "paused": 1, "unavailable": 1}
    assert states["housing"] == {"available": 1, "busy": 0, "paused": 1, "unavailable": 0}
    registry = CollectorRegistry()
    registry.register(LiveCollector(lambda: LiveSnapshot(agents=states)))
    assert registry.get_sample_value("callcentre_queue_agents",
                                     {"queue": "council", "state": "paused"}) == 1


def test_promises_and_blending_are_reported() -> None:
    from callcentre.domain.live import PromiseReport

    registry = CollectorRegistry()
    registry.register(LiveCollector(lambda: LiveSnapshot(
        promises=PromiseReport(sized=7, fixed=2, held_for_queue=4, held_for_place=3,
                               urgent_over_queue=1))))
    get = registry.get_sample_value
    assert get("callcentre_callback_promises_total", {"kind": "sized"}) == 7
    assert get("callcentre_callback_promises_total", {"kind": "fixed"}) == 2
    assert get("callcentre_callback_dispatch_held_total", {"kind": "crowded"}) == 4
    assert get("callcentre_callback_dispatch_held_total", {"kind": "place"}) == 3
    assert get("callcentre_callbacks_dialled_over_queue_total") == 1
