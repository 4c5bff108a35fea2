"""What a queued resident is told (services/waits.py), on fakes with an injected clock:
the estimate set on the channel, a callback offered over the threshold and promised as
offered, failures that never reach the dialplan, and the estimate's error measured."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from callcentre.ami.protocol import Message
from callcentre.domain import callback_events as cev
from callcentre.domain.calls import Call, Outcome
from callcentre.domain.waits import WaitAnnounced, WaitAsked
from callcentre.services.waits import WaitService
from tests.support import translator
from tests.unit.test_callback_service import PHONE, T0, World

CHANNEL = "PJSIP/resident-0001"


def waiting(n: int) -> list[Call]:
    """``n`` residents queued before T0, one second apart."""
    return [Call(linkedid=f"9.{i}", channel=f"PJSIP/r-{i}", arrived_at=T0, queue="council",
                 queued_at=T0 - timedelta(seconds=60 - i)) for i in range(n)]


class Waits:
    def __init__(self, offer_over: float = 0.0, ahead: int = 2, agents: int = 2,
                 handling: float | None = 120.0, patience: float | None = None) -> None:
        self.w = World()
        self.calls = waiting(ahead)
        for n in range(1, agents + 1):  # members in a call: busy
            self.w.dialler.handle(cev.MemberChanged("council", f"PJSIP/agent{n}",
                                                    f"Agent {n}", False, 2, True))

        async def model(queue: str) -> tuple[float | None, float | None]:
            return handling, patience

        self.service = WaitService(self.w.pbx, self.w.clock, lambda: self.calls,
                                   self.w.dialler.board.all, model,
                                   self.w.service.offer_due, offer_over)
        self.w.dialler.offered = self.service.offered
        self.taken: list[str] = []
        self.errors: list[tuple[str, float]] = []
        self.learnt: list[tuple[str, dict[str, float]]] = []
        self.service.listen(self.taken.append, lambda q, s: self.errors.append((q, s)),
                            lambda q, f: self.learnt.append((q, dict(f))))

    async def ask(self, linkedid: str = "5.5", caller: str | None = "07700900123",
                  position: int | None = None) -> dict[str, str]:
        self.service.asked(WaitAsked(linkedid, CHANNEL, self.w.clock.now(), "council",
                                     position, caller))
        for task in list(self.service._tasks):
            await task
        return {name: value for _, name, value in self.w.pbx.variables}


async def test_the_estimate_is_set_on_the_channel_estimate_last() -> None:
    waits = Waits()
    told = await waits.ask()
    # third in line behind two, two busy agents at 120 s: 3 x 60 s
    assert told == {"WAIT_OFFER": "0", "WAIT_MINUTES": "3", "WAIT_ESTIMATE": "180"}
    assert waits.w.pbx.variables[-1][1] == "WAIT_ESTIMATE"  # the dialplan waits for it
    again = await waits.ask(position=1)  # back from Queue() at QUEUEPOSITION 1
    assert again["WAIT_ESTIMATE"] == "60"


async def test_over_the_threshold_a_callback_is_offered_and_promised_as_offered() -> None:
    waits = Waits(offer_over=120)
    told = await waits.ask()
    offered = int(told["WAIT_OFFER"])
    assert offered == int((T0 + timedelta(hours=4)).timestamp())  # the fixed keypress rule
    waits.w.clock.advance(minutes=3)  # hearing the offer; the rule would now say 10:03 + 4 h
    waits.w.event(cev.CallbackRequested("5.5", CHANNEL, waits.w.clock.now(), "07700900123",
                                        None, None))
    await waits.w.settle()
    waits.service.callback_requested(cev.CallbackRequested(
        "5.5", CHANNEL, waits.w.clock.now(), "07700900123", None, None))
    promised = {name: value for _, name, value in waits.w.pbx.variables}["CALLBACK_PROMISED"]
    assert int(promised) == offered and waits.taken == ["council"]


async def test_an_offer_is_kept_for_a_while_only() -> None:
    waits = Waits(offer_over=120)
    await waits.ask()
    waits.w.clock.advance(minutes=31)
    assert waits.service.offered("5.5") is None


async def test_no_offer_without_a_usable_number_or_under_the_threshold() -> None:
    assert (await Waits(offer_over=120).ask(caller="anonymous"))["WAIT_OFFER"] == "0"
    assert (await Waits(offer_over=600).ask())["WAIT_OFFER"] == "0"
    assert (await Waits(offer_over=0).ask())["WAIT_OFFER"] == "0"


async def test_nothing_to_say_without_agents_or_handling_time() -> None:
    assert await Waits(agents=0).ask() == {"WAIT_ESTIMATE": "-1"}
    assert await Waits(handling=None).ask() == {"WAIT_ESTIMATE": "-1"}


async def test_a_pbx_that_fails_is_counted_and_never_raises() -> None:
    waits = Waits()
    waits.w.pbx.down = True
    assert await waits.ask() == {}
    assert waits.service.stats.failed == 1


async def test_a_failing_model_still_answers_so_the_dialplan_goes_on() -> None:
    waits = Waits()

    async def broken(queue: str) -> tuple[float | None, float | None]:
        raise RuntimeError("database gone")

    waits.service._model = broken
    assert await waits.ask() == {"WAIT_ESTIMATE": "-1"}
    assert waits.service.stats.failed == 1


async def test_the_first_estimate_is_measured_against_the_wait_the_resident_had() -> None:
    waits = Waits()
    await waits.ask()  # 180 s at T0
    waits.w.clock.advance(minutes=1)
    await waits.ask()  # a later announcement is not the one measured
    answered = T0 + timedelta(seconds=150)
    call = Call(linkedid="5.5", channel=CHANNEL, arrived_at=T0, caller=PHONE, queue="council",
                queued_at=T0, answered_at=answered, talk_ended_at=answered
                + timedelta(seconds=90), outcome=Outcome.ANSWERED)
    waits.service.call_finished(call)
    assert waits.errors == [("council", 30.0)]
    assert waits.service.recent.mean("council", None) is None  # one call: not enough yet


async def test_the_waits_residents_had_teach_the_next_estimates() -> None:
    """Talk time alone falls short of an agent's whole turn (ringing, wrap-up): answered
    after 240 s where 180 s was told, five times over, the next resident third in line is
    told 240 s too; and a lag seen by residents answered at once comes first."""
    waits = Waits()
    for i in range(5):
        await waits.ask(linkedid=f"5.{i}")  # 180 s: two ahead, two busy agents at 120 s
        waits.service.call_finished(answered(f"5.{i}", waits.w.clock.now(), 240))
    assert (await waits.ask(linkedid="6.0"))["WAIT_ESTIMATE"] == "240"
    # said after each answered wait: nothing until five, then the turn per call (metrics)
    # 240 s with two ahead and two agents: (2 + 1) / 2 turns of 160 s
    assert [f for _, f in waits.learnt] == [{}, {}, {}, {}, {"handling": 160.0}]
    waits.calls = []  # nobody ahead; one agent free
    waits.w.dialler.handle(cev.MemberChanged("council", "PJSIP/agent1", "Agent 1", False, 1,
                                             False))
    for i in range(5):
        await waits.ask(linkedid=f"7.{i}")
        waits.service.call_finished(answered(f"7.{i}", waits.w.clock.now(), 8))
    assert (await waits.ask(linkedid="8.0"))["WAIT_ESTIMATE"] == "8"
    assert waits.learnt[-1] == ("council", {"lag": 8.0, "handling": 160.0})


async def test_at_a_stop_answers_in_flight_go_out_and_stuck_ones_are_cancelled() -> None:
    waits = Waits()
    waits.service.asked(WaitAsked("5.5", CHANNEL, waits.w.clock.now(), "council", None, None))
    assert await waits.service.drain(grace=1.0) == 0  # it finished: the estimate was set
    assert [name for _, name, _ in waits.w.pbx.variables][-1] == "WAIT_ESTIMATE"
    stuck = asyncio.Event()

    async def never(channel: str, name: str, value: str) -> None:
        await stuck.wait()  # a PBX that does not answer

    waits.w.pbx.set_variable = never  # type: ignore[method-assign]
    waits.service.asked(WaitAsked("5.6", CHANNEL, waits.w.clock.now(), "council", None, None))
    assert await waits.service.drain(grace=0.05) == 1
    assert not waits.service._tasks  # cancelled and gone, nothing left pending at exit


def answered(linkedid: str, told_at: datetime, after_s: float) -> Call:
    at = told_at + timedelta(seconds=after_s)
    return Call(linkedid=linkedid, channel=CHANNEL, arrived_at=told_at, caller=PHONE,
                queue="council", queued_at=told_at, answered_at=at,
                talk_ended_at=at + timedelta(seconds=90), outcome=Outcome.ANSWERED)


def test_an_announcement_for_a_call_never_estimated_is_a_counted_skip() -> None:
    waits = Waits()
    waits.service.announced(WaitAnnounced("7.7", T0, "council", 60.0, None))
    assert waits.service.stats.skipped == 1


def msg(**headers: str) -> Message:
    return Message(list(headers.items()))


CALLER = {"Channel": CHANNEL, "Uniqueid": "5.5", "Linkedid": "5.5",
          "CallerIDNum": "07700900123", "Timestamp": "1795379766.500000"}


def test_the_dialplans_questions_and_announcements_are_translated() -> None:
    tr = translator()
    asked = tr(msg(Event="UserEvent", UserEvent="CallcentreWaitQuery", Queue="council",
                   Position="", **CALLER))
    assert asked == WaitAsked("5.5", CHANNEL, datetime.fromtimestamp(1795379766.5, T0.tzinfo),
                              "council", None, "07700900123")
    told = tr(msg(Event="UserEvent", UserEvent="CallcentreWaitTold", Queue="council",
                  Estimate="180", Offered="1795394166", **CALLER))
    assert isinstance(told, WaitAnnounced) and told.seconds == 180.0
    assert told.offered_due is not None and told.offered_due.timestamp() == 1795394166


def test_malformed_wait_events_are_counted_skips() -> None:
    tr = translator()
    assert tr(msg(Event="UserEvent", UserEvent="CallcentreWaitQuery", **CALLER)) is None
    assert tr(msg(Event="UserEvent", UserEvent="CallcentreWaitQuery", Queue="council",
                  Position="x", **CALLER)) is None
    assert tr(msg(Event="UserEvent", UserEvent="CallcentreWaitTold", Queue="council",
                  Estimate="nan", **CALLER)) is None
    assert tr.malformed == 3


def test_the_metrics_count_per_queue_with_no_phone_number_in_a_label() -> None:
    from prometheus_client import CollectorRegistry

    from callcentre.observability.prometheus import CallMetrics

    registry = CollectorRegistry()
    metrics = CallMetrics(registry, [20.0, 60.0])
    metrics.touch_queue("council")
    assert registry.get_sample_value("callcentre_wait_callback_offers_total",
                                     {"queue": "council", "result": "taken"}) == 0
    metrics.wait_told(WaitAnnounced("5.5", T0, "council", 180.0, T0 + timedelta(hours=4)))
    metrics.wait_told(WaitAnnounced("5.5", T0, "council", 120.0, None))
    metrics.offer_taken("council")
    metrics.wait_error("council", 30.0)
    sample = registry.get_sample_value
    assert sample("callcentre_wait_estimates_told_total", {"queue": "council"}) == 2
    assert sample("callcentre_wait_callback_offers_total",
                  {"queue": "council", "result": "made"}) == 1
    assert sample("callcentre_wait_callback_offers_total",
                  {"queue": "council", "result": "taken"}) == 1
    assert sample("callcentre_wait_estimate_error_seconds_sum", {"queue": "council"}) == 30.0
    assert sample("callcentre_wait_learnt_seconds", {"queue": "council", "kind": "lag"}) is None
    metrics.wait_learnt("council", {"lag": 6.5, "handling": 120.0})
    assert sample("callcentre_wait_learnt_seconds", {"queue": "council", "kind": "lag"}) == 6.5
    assert sample("callcentre_wait_learnt_seconds",
                  {"queue": "council", "kind": "handling"}) == 120.0


def test_what_asterisk_22_sends_for_an_offer_taken_translates_to_one_story() -> None:
    """tests/fixtures/ami/wait_offer.* (capture.py wait_offer: the session answered as the
    service does): resident B asks before Queue(), hears 120 s with an offer, presses 1 back
    in the queue and is told the promised time, the same epoch as offered."""
    from tests.support import parse_all, trace_bytes

    tr = translator()
    events = [e for e in map(tr, parse_all(trace_bytes("wait_offer"))) if e is not None]
    (told,) = [e for e in events if isinstance(e, WaitAnnounced)]
    asked = [e for e in events if isinstance(e, WaitAsked) and e.linkedid == told.linkedid]
    assert [(a.queue, a.position) for a in asked] == [("council", None)]
    assert told.seconds == 120.0 and told.offered_due is not None
    (request,) = [e for e in events if isinstance(e, cev.CallbackRequested)]
    (promised,) = [e for e in events if isinstance(e, cev.PromiseTold)]
    assert request.linkedid == told.linkedid and promised.callback_id == 1
    raw = trace_bytes("wait_offer").decode()
    assert f"Promised: {int(told.offered_due.timestamp())}" in raw
    assert tr.malformed == 0
