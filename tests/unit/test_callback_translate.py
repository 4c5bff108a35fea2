"""AMI -> callback events (the one table in ami/translate.py), the agent board, the Originate
fields, the heap."""

from __future__ import annotations

from datetime import timedelta

from callcentre.ami.pbx import originate_fields
from callcentre.ami.protocol import Message
from callcentre.domain import callback_events as cev
from callcentre.domain import events as ev
from callcentre.domain.agents import AgentBoard
from callcentre.ports import DueEntry, OriginateRequest
from callcentre.scheduling.due_loop import HeapScheduler
from callcentre.testing import utc
from tests.support import translator as make_translator

TS = "1795379797.999849"
AT = utc(2026, 11, 22, 20, 36, 37, 999849)


def msg(text: str) -> Message:
    return Message([tuple(line.split(": ", 1)) for line in text.strip().splitlines()])  # type: ignore[misc]


def tr(text: str) -> object:
    return make_translator()(msg(text))


def test_member_and_device_events() -> None:
    assert tr("Event: QueueMemberStatus\nQueue: council\nInterface: PJSIP/agent1\nMemberName: Agent 1\n"
              "Status: 1\nPaused: 0\nInCall: 0") == cev.MemberChanged("council", "PJSIP/agent1", "Agent 1", False, 1, False)
    assert tr("Event: QueueMember\nQueue: council\nName: Agent 2\nLocation: PJSIP/agent2\nStatus: 2\n"
              "Paused: 1\nInCall: 1") == cev.MemberChanged("council", "PJSIP/agent2", "Agent 2", True, 2, True)
    assert tr("Event: DeviceStateChange\nDevice: PJSIP/agent1\nState: INUSE") == cev.DeviceChanged("PJSIP/agent1", "INUSE")
    assert tr("Event: QueueMemberRemoved\nQueue: council\nInterface: PJSIP/x") == cev.MemberRemoved("council", "PJSIP/x")


def test_originate_responses() -> None:
    ok = tr(f"Event: OriginateResponse\nTimestamp: {TS}\nActionID: cc-7\nResponse: Success\n"
            "Channel: PJSIP/agent1-00000003\nReason: 4\nUniqueid: callback-1-1")
    assert ok == cev.AgentLegAnswered("cc-7", "callback-1-1", AT)
    failed = tr(f"Event: OriginateResponse\nTimestamp: {TS}\nActionID: cc-8\nResponse: Failure\n"
                "Channel: PJSIP/agent1\nReason: 3\nUniqueid: <null>")
    assert failed == cev.AgentLegFailed("cc-8", None, AT, 3)


def test_only_callback_legs_count() -> None:
    resident_leg = (f"Event: DialEnd\nTimestamp: {TS}\nChannel: PJSIP/agent1-3\nUniqueid: callback-1-1\n"
                    "Linkedid: callback-1-1\nChanVariable: CASE_REF=HOU-1\nChanVariable: CALLBACK_ID=1\n"
                    "DestChannel: PJSIP/resident-cb-4\nDestUniqueid: 17.4\nDialStatus: ANSWER")
    assert tr(resident_leg) == cev.ResidentDialEnded("callback-1-1", AT, "ANSWER")
    queue_dial = resident_leg.replace("ChanVariable: CALLBACK_ID=1", "ChanVariable: CALLBACK_ID=")
    assert tr(queue_dial) is None
    hangup = (f"Event: Hangup\nTimestamp: {TS}\nUniqueid: callback-1-1\nLinkedid: callback-1-1\n"
              "ChanVariable: CALLBACK_ID=1\nCause: 16")
    # One Hangup row: the agent leg's hangup is a first leg's hangup, which the call log and the
    # dialler (as CallbackLegEnded of its leg) both subscribe to in app.py.
    assert tr(hangup) == ev.CallerHungUp("callback-1-1", AT, 16)
    assert tr(hangup.replace("Uniqueid: callback-1-1", "Uniqueid: 17.4")) is None  # resident leg


def test_user_events() -> None:
    assert tr(f"Event: UserEvent\nTimestamp: {TS}\nUserEvent: CallcentreCallbackRequest\n"
              "Channel: PJSIP/resident-1\nCallerIDNum: 07700900123\nLinkedid: 17.1\nCaseRef: NONE\n"
              "Language: en") == cev.CallbackRequested("17.1", "PJSIP/resident-1", AT, "07700900123", None, "en")
    assert tr(f"Event: UserEvent\nTimestamp: {TS}\nUserEvent: CallcentreCallbackResult\n"
              "Linkedid: callback-1-1\nDialStatus: ANSWER\nAnsweredTime: 12") == \
        cev.CallbackLegResult("callback-1-1", AT, "ANSWER", 12.0)
    assert tr(f"Event: UserEvent\nTimestamp: {TS}\nUserEvent: CallcentreCallbackPromiseTold\n"
              "CallbackId: 4") == cev.PromiseTold(AT, 4)
    assert tr("Event: UserEvent\nUserEvent: CallcentreCaseRef\nCaseRef: X") is None
    translator = make_translator()
    assert translator(msg("Event: QueueMemberStatus\nQueue: council")) is None
    assert translator.malformed == 1


def test_agent_board() -> None:
    board = AgentBoard()
    board.apply(cev.MemberChanged("council", "PJSIP/agent1", "Agent 1", False, 1, False))
    board.apply(cev.MemberChanged("council", "PJSIP/agent2", "Agent 2", True, 1, False))
    assert [a.interface for a in board.available()] == ["PJSIP/agent1"]
    board.apply(cev.DeviceChanged("PJSIP/agent1", "INUSE"))
    assert board.available() == []
    board.apply(cev.DeviceChanged("PJSIP/agent1", "NOT_INUSE"))
    assert board.find("agent 1") is not None and board.find("PJSIP/agent2") is not None
    board.apply(cev.MemberRemoved("council", "PJSIP/agent1"))
    assert board.available() == []


def test_originate_fields() -> None:
    due = utc(2026, 11, 23, 14)
    fields = originate_fields(OriginateRequest("callback-4-1", "PJSIP/agent1", "+447700900123",
                                               "HOU-1", 4, due, 20, "Council <1>"))
    assert fields["Context"] == "callcentre-callback" and fields["ChannelId"] == "callback-4-1"
    assert fields["Async"] == "true" and fields["Timeout"] == "20000"
    assert fields["Variable"] == ["__CASE_REF=HOU-1", "CALLBACK_ID=4",
                                  f"CALLBACK_DUE={due.isoformat()}",
                                  f"CALLBACK_DUE_EPOCH={int(due.timestamp())}",
                                  "CALLBACK_CHECK=confirm"]


def test_heap_scheduler() -> None:
    t = utc(2026, 11, 23, 10)
    heap = HeapScheduler()
    heap.replace_all([DueEntry(1, t, t + timedelta(hours=4)), DueEntry(2, t, t + timedelta(hours=1)),
                      DueEntry(3, t + timedelta(minutes=5), t + timedelta(hours=1))])
    heap.set(DueEntry(1, t + timedelta(minutes=1), t + timedelta(hours=4)))  # moved
    heap.discard(3)
    assert [e.id for e in heap.pop_due(t)] == [2]
    assert heap.next_at() == t + timedelta(minutes=1)
    assert [e.id for e in heap.pop_due(t + timedelta(hours=1))] == [1]
    assert heap.next_at() is None and len(heap) == 0
