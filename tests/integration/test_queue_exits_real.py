"""Every way out of a queue, as the real Asterisk 22 names it (issue #10): the queue_log
sequence of each path and the AMI events callcentre will classify it from. The scenarios
are in tests/asterisk/scenarios.py; their captures are tests/fixtures/ami/<scenario>.*.

What app_queue.c does on each path (Asterisk 22), which these tests pin down:
EXITWITHKEY leaves without record_abandoned() (no QueueCallerAbandon) and without setting
QUEUESTATUS; EXITEMPTY and EXITWITHTIMEOUT both go through record_abandoned() (so
QueueCallerAbandon, ABANDONED=TRUE) and set QUEUESTATUS (LEAVEEMPTY, TIMEOUT); a blind
or attended transfer logs BLINDTRANSFER or ATTENDEDTRANSFER instead of
COMPLETEAGENT/COMPLETECALLER and raises AgentComplete with Reason "transfer".
"""

from __future__ import annotations

import asyncio

import pytest

from tests.asterisk import scenarios
from tests.asterisk.harness import AsteriskHarness, ScenarioResult
from tests.integration.test_asterisk_harness import Message, RawAmi

pytestmark = pytest.mark.asterisk


def queue_path(result: ScenarioResult, callid: str) -> list[tuple[str, str]]:
    """(queue, event) of the resident's own queue_log lines, in order."""
    return [(e.queue, e.event) for e in result.queue_log if e.callid == callid]


async def events_of_call(ami: RawAmi, callid: str) -> list[Message]:
    """The AMI events of one call (Linkedid), once the resident's channel has hung up."""
    await ami.wait_event(lambda e: e.get("Event") == "Hangup" and e["Uniqueid"] == callid, 10)
    return [e for e in ami.events if e.get("Linkedid") == callid]


def named(events: list[Message], *names: str) -> list[Message]:
    return [e for e in events if e["Event"] in names]


def queuestatus(events: list[Message]) -> list[str]:
    return [e["Value"] for e in named(events, "VarSet") if e["Variable"] == "QUEUESTATUS"]


def user_events(events: list[Message]) -> list[str]:
    return [e["UserEvent"] for e in named(events, "UserEvent")]


async def test_key_1_leaves_the_queue_with_exitwithkey(asterisk: AsteriskHarness,
                                                       ami: RawAmi) -> None:
    result = await asyncio.to_thread(scenarios.exit_with_key, asterisk)

    callid = result.uniqueid_of(result.numbers[0])
    assert queue_path(result, callid) == [("council", "ENTERQUEUE"), ("council", "EXITWITHKEY")]
    key, position, original_position, holdtime = result.events("EXITWITHKEY")[0].data
    assert (key, position, original_position) == ("1", "1", "1")
    assert int(holdtime) in (0, 1, 2)  # the key is sent 1.2 s after answer
    assert result.calls[0].ok
    mine = await events_of_call(ami, callid)
    assert [e["Event"] for e in named(mine, "QueueCallerJoin", "QueueCallerLeave",
                                      "QueueCallerAbandon")] == [
        "QueueCallerJoin", "QueueCallerLeave"]  # no record_abandoned() on this path
    assert queuestatus(mine) == []  # Queue() leaves QUEUESTATUS unset after a key
    # the wait is asked for before Queue() (the test overlay gives no time to answer it)
    assert user_events(mine) == ["CallcentreCaseRef", "CallcentreWaitQuery",
                                 "CallcentreCallbackRequest"]
    assert asterisk.problems_since(result.mark) == []


async def test_key_1_unanswered_goes_back_into_the_queue(asterisk: AsteriskHarness,
                                                         ami: RawAmi) -> None:
    result = await asyncio.to_thread(scenarios.exit_with_key, asterisk, rejoin=True)

    callid = result.uniqueid_of(result.numbers[0])
    assert queue_path(result, callid) == [
        ("council", "ENTERQUEUE"), ("council", "EXITWITHKEY"),
        ("council", "ENTERQUEUE"), ("council", "ABANDON")]  # one callid, two stints
    mine = await events_of_call(ami, callid)
    assert [e["Event"] for e in named(mine, "QueueCallerJoin", "QueueCallerLeave",
                                      "QueueCallerAbandon")] == [
        "QueueCallerJoin", "QueueCallerLeave",
        "QueueCallerJoin", "QueueCallerAbandon", "QueueCallerLeave"]
    assert queuestatus(mine) == []
    assert "CallcentreQueueResult" not in user_events(mine)  # the resident hung up


async def test_every_member_paused_empties_the_queue(asterisk: AsteriskHarness,
                                                     ami: RawAmi) -> None:
    result = await asyncio.to_thread(scenarios.leave_empty, asterisk)

    callid = result.uniqueid_of(result.numbers[0])
    assert queue_path(result, callid) == [("council-empty", "ENTERQUEUE"),
                                          ("council-empty", "EXITEMPTY")]
    events = [e.event for e in result.queue_log]
    paused = len(asterisk.agents)
    assert events == (["ENTERQUEUE"] + ["PAUSE"] * paused + ["EXITEMPTY"]
                      + ["UNPAUSE"] * paused)
    position, original_position, holdtime = result.events("EXITEMPTY")[0].data
    assert (position, original_position) == ("1", "1")
    assert int(holdtime) in (1, 2, 3)  # paused 1.5 s after ENTERQUEUE, checked each 1 s
    mine = await events_of_call(ami, callid)
    abandon, = named(mine, "QueueCallerAbandon")  # EXITEMPTY goes through record_abandoned()
    assert abandon["Queue"] == "council-empty"
    assert queuestatus(mine) == ["LEAVEEMPTY"]
    queue_result = next(e for e in named(mine, "UserEvent")
                        if e["UserEvent"] == "CallcentreQueueResult")
    assert (queue_result["QueueStatus"], queue_result["CaseRef"]) == ("LEAVEEMPTY", "EMPTY-1")
    assert asterisk.problems_since(result.mark) == []


async def test_agent_blind_transfers_the_resident(asterisk: AsteriskHarness,
                                                  ami: RawAmi) -> None:
    result = await asyncio.to_thread(scenarios.transfer, asterisk)

    callid = result.uniqueid_of(result.numbers[0])
    assert queue_path(result, callid) == [("council", "ENTERQUEUE"), ("council", "CONNECT"),
                                          ("council", "BLINDTRANSFER")]  # no COMPLETE*
    transfer = result.events("BLINDTRANSFER")[0]
    exten, context, holdtime, talktime, original_position = transfer.data
    assert (transfer.agent, exten, context) == ("Agent 1", "agent2", "callcentre-agent-phones")
    assert (int(holdtime), int(talktime), original_position) in [
        (h, t, "1") for h in (1, 2) for t in (2, 3)]
    assert result.calls[0].ok
    mine = await events_of_call(ami, callid)
    blind = await ami.wait_event(lambda e: e.get("Event") == "BlindTransfer"
                                 and e.get("TransfereeUniqueid") == callid, 5)
    assert (blind["Result"], blind["Extension"], blind["Context"], blind["IsExternal"]) == (
        "Success", "agent2", "callcentre-agent-phones", "Yes")
    assert blind["TransfererChannel"].startswith("PJSIP/agent1-")
    complete, = named(mine, "AgentComplete")
    assert (complete["Interface"], complete["Reason"]) == ("PJSIP/agent1", "transfer")
    # after the transfer the resident's own channel dials the target, outside any queue
    dials = [e["DestChannel"].split("-")[0] for e in named(mine, "DialBegin")]
    assert dials == ["PJSIP/agent1", "PJSIP/agent2"]
    assert asterisk.problems_since(result.mark) == []


async def test_agent_consults_then_transfers_the_resident(asterisk: AsteriskHarness,
                                                        ami: RawAmi) -> None:
    result = await asyncio.to_thread(scenarios.transfer, asterisk, attended=True)

    callid = result.uniqueid_of(result.numbers[0])
    assert queue_path(result, callid) == [("council", "ENTERQUEUE"), ("council", "CONNECT"),
                                          ("council", "ATTENDEDTRANSFER")]
    transfer = result.events("ATTENDEDTRANSFER")[0]
    dest_type, bridge, holdtime, talktime, original_position = transfer.data
    assert (transfer.agent, dest_type, original_position) == ("Agent 1", "BRIDGE", "1")
    assert int(holdtime) in (1, 2)
    assert int(talktime) in (4, 5, 6)  # talk 2 s + consultation (ring 1 s, 2 s), whole s
    assert result.calls[0].ok
    await events_of_call(ami, callid)
    attended = await ami.wait_event(lambda e: e.get("Event") == "AttendedTransfer"
                                    and e.get("TransfereeUniqueid") == callid, 5)
    assert (attended["Result"], attended["DestType"], attended["IsExternal"]) == (
        "Success", "Bridge", "No")
    # the target joins the queue's own bridge, the one queue_log names
    assert attended["DestBridgeUniqueid"] == attended["OrigBridgeUniqueid"] == bridge
    assert attended["TransferTargetChannel"].startswith("PJSIP/agent2-")
    # the consultation is a call of its own (its own Linkedid), never in council-inbound
    consultation = attended["SecondTransfererUniqueid"]
    assert attended["SecondTransfererLinkedid"] == consultation != callid
    assert attended["SecondTransfererContext"] == "callcentre-agent-phones"
    mine = [e for e in ami.events if e.get("Linkedid") == callid]
    complete, = named(mine, "AgentComplete")
    assert (complete["Interface"], complete["Reason"]) == ("PJSIP/agent1", "transfer")
    assert asterisk.problems_since(result.mark) == []


async def test_one_call_through_two_queues(asterisk: AsteriskHarness, ami: RawAmi) -> None:
    result = await asyncio.to_thread(scenarios.two_queues, asterisk)

    callid = result.uniqueid_of(result.numbers[0])
    assert queue_path(result, callid) == [
        ("council-first", "ENTERQUEUE"), ("council-first", "EXITWITHTIMEOUT"),
        ("council", "ENTERQUEUE"), ("council", "CONNECT"), ("council", "COMPLETEAGENT")]
    await events_of_call(ami, callid)
    # app_queue may raise AgentComplete after the caller's Hangup (see test_asterisk_harness)
    await ami.wait_event(lambda e: e.get("Event") == "AgentComplete"
                         and e.get("Linkedid") == callid, 15)
    mine = [e for e in ami.events if e.get("Linkedid") == callid]
    assert [e["Queue"] for e in named(mine, "QueueCallerJoin")] == ["council-first", "council"]
    assert [e["Queue"] for e in named(mine, "QueueCallerAbandon")] == ["council-first"]
    # set once, by the timeout of the first queue; still on the channel once answered
    assert queuestatus(mine) == ["TIMEOUT"]
    complete, = named(mine, "AgentComplete")
    assert (complete["Queue"], complete["Reason"]) == ("council", "agent")
    assert result.calls[0].ok
