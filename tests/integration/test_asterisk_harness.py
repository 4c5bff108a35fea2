"""The harness is the ground truth other tests stand on, so these tests prove it: each
scenario leaves the queue_log Asterisk writes for such calls, the case reference reaches the
CDR, and the least-rights AMI account of dialplans/manager.conf gets every event and action
callcentre needs and nothing it does not (dialplans/README.md, "AMI rights").

AMI is spoken here over a raw socket on purpose (callcentre/ami/ is the real client).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

from tests.asterisk.harness import AsteriskHarness, Caller, CallerLost, HarnessError

pytestmark = pytest.mark.asterisk

Message = dict[str, str]
T = TypeVar("T")

# Every event callcentre consumes (dialplans/README.md, "AMI events"), by read class.
NEEDED_EVENTS = {
    "call": {"Newchannel", "Hangup", "DialBegin", "DialEnd", "DeviceStateChange"},
    "agent": {"QueueCallerJoin", "QueueCallerLeave", "AgentCalled", "AgentConnect",
              "AgentComplete", "QueueMemberStatus", "QueueMemberAdded", "QueueMemberPause",
              "QueueMemberRemoved"},
    "user": {"UserEvent"},
    "system": {"FullyBooted"},
    "dialplan": {"VarSet"},
}
READ_CLASSES = tuple(NEEDED_EVENTS)
# write class -> an action callcentre sends that needs it
# (Getvar is allowed by "call" or "reporting", so Setvar stands for "call".)
WRITE_WITNESS = {"call": "Setvar", "originate": "Originate", "reporting": "CoreShowChannels"}


class RawAmi:
    """Just enough AMI for these checks: login, actions by ActionID, every event kept."""

    _ids = itertools.count(1)

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader, self._writer = reader, writer
        self.events: list[Message] = []
        self._replies: dict[str, list[Message]] = {}
        self._changed = asyncio.Event()
        self._task = asyncio.create_task(self._read())

    @classmethod
    async def login(cls, host: str, port: int, username: str, secret: str) -> RawAmi:
        reader, writer = await asyncio.open_connection(host, port)
        banner = await reader.readline()
        assert banner.startswith(b"Asterisk Call Manager/"), banner
        ami = cls(reader, writer)
        reply = await ami.action("Login", Username=username, Secret=secret, Events="on")
        assert reply[0]["Response"] == "Success", reply
        return ami

    async def _read(self) -> None:
        while True:
            try:
                block = await self._reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            msg: Message = {}
            for line in block.decode().split("\r\n"):
                key, sep, value = line.partition(": ")
                if sep:  # repeated keys (ChanVariable) are joined with newlines
                    msg[key] = f"{msg[key]}\n{value}" if key in msg else value
            if "ActionID" in msg:
                self._replies.setdefault(msg.get("ActionID", ""), []).append(msg)
            if "Event" in msg:
                self.events.append(msg)
            self._changed.set()

    async def action(self, name: str, **fields: str | list[str]) -> list[Message]:
        """Send an action; return its response (and the events of an event list)."""
        action_id = f"t{next(self._ids)}"
        lines = [f"Action: {name}", f"ActionID: {action_id}"]
        for key, value in fields.items():
            lines += [f"{key}: {v}" for v in (value if isinstance(value, list) else [value])]
        self._writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await self._writer.drain()

        def done() -> list[Message] | None:
            got = self._replies.get(action_id, [])
            if not got or (got[0].get("EventList") == "start"
                           and got[-1].get("EventList") != "Complete"):
                return None
            return got
        return await self._until(done, 10)

    async def wait_event(self, match: Callable[[Message], bool], within: float) -> Message:
        return await self._until(lambda: next((e for e in self.events if match(e)), None),
                                 within)

    async def _until(self, probe: Callable[[], T | None], within: float) -> T:
        async with asyncio.timeout(within):
            while (found := probe()) is None:
                self._changed.clear()
                await self._changed.wait()
            return found

    def names(self) -> set[str]:
        return {e["Event"] for e in self.events}

    async def close(self) -> None:
        self._writer.close()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        with contextlib.suppress(ConnectionError):
            await self._writer.wait_closed()


def chan_variables(msg: Message, key: str = "ChanVariable") -> dict[str, str]:
    """``ChanVariable: CASE_REF=x`` lines (``DestChanVariable`` for the agent's leg)."""
    pairs = (v.split("=", 1) for v in msg.get(key, "").split("\n") if "=" in v)
    return dict(pairs)


# ---------------------------------------------------------------------------- scenarios
async def test_answered_call_queue_log_cdr_and_ami(asterisk: AsteriskHarness,
                                                   ami: RawAmi) -> None:
    result = await asyncio.to_thread(asterisk.answered, ring_s=1, talk_s=2, case_ref="HOU-1")

    assert [e.event for e in result.queue_log] == ["ENTERQUEUE", "CONNECT", "COMPLETEAGENT"]
    enter, connect, complete = result.queue_log
    callid = result.uniqueid_of(result.numbers[0])
    assert {enter.callid, connect.callid, complete.callid} == {callid}
    # whole seconds, as differences of time(): 1 s of ringing may show as 1 or 2
    assert connect.data[2] in ("1", "2")  # ring time of the agent who answered
    assert complete.data[1] in ("2", "3")  # talk time; the agent hung up
    assert result.calls[0].ok
    cdr = next(c for c in asterisk.cdrs_since(result.mark) if c["uniqueid"] == callid)
    assert (cdr["userfield"], cdr["src"], cdr["dcontext"]) == (
        "case:HOU-1", result.numbers[0], "council-inbound")

    await ami.wait_event(lambda e: e.get("Event") == "Hangup" and e["Uniqueid"] == callid, 5)
    # app_queue raises AgentComplete when the bridge ends, which may follow the caller's Hangup
    await ami.wait_event(lambda e: e.get("Event") == "AgentComplete"
                         and e.get("Linkedid") == callid, 15)
    mine = [e for e in ami.events if e.get("Linkedid") == callid]
    assert {"Newchannel", "VarSet", "QueueCallerJoin", "AgentCalled", "AgentConnect",
            "AgentComplete", "QueueCallerLeave", "DialBegin", "DialEnd", "Hangup",
            "UserEvent"} <= {e["Event"] for e in mine}
    join = next(e for e in mine if e["Event"] == "QueueCallerJoin")
    assert chan_variables(join)["CASE_REF"] == "HOU-1"
    agent_connect = next(e for e in mine if e["Event"] == "AgentConnect")
    assert chan_variables(agent_connect, "DestChanVariable")["CASE_REF"] == "HOU-1"  # inherited
    user = next(e for e in mine if e["Event"] == "UserEvent")
    assert (user["UserEvent"], user["CaseRef"], user["Source"]) == (
        "CallcentreCaseRef", "HOU-1", "header")
    assert {"QueueMemberStatus", "DeviceStateChange", "FullyBooted"} <= ami.names()
    assert "Newexten" not in ami.names()  # manager.conf eventfilter
    untimed = {e["Event"] for e in ami.events if "Timestamp" not in e}
    assert untimed <= {"FullyBooted"}, untimed  # sent at login, outside the event queue
    assert all(re.fullmatch(r"\d+\.\d{6}", e["Timestamp"]) for e in mine)


def test_abandoned_while_every_agent_is_paused(asterisk: AsteriskHarness) -> None:
    result = asterisk.abandoned(wait_s=3, case_ref="ABD-1")

    events = [e.event for e in result.queue_log]
    paused = len(asterisk.agents)
    assert events == ["PAUSE"] * paused + ["ENTERQUEUE", "ABANDON"] + ["UNPAUSE"] * paused
    abandon = result.events("ABANDON")[0]
    position, original_position, holdtime = abandon.data
    assert (position, original_position) == ("1", "1")
    assert int(holdtime) in (2, 3)  # hung up 3 s after answer; Answer() took ~0.5 s of it
    assert abandon.callid == result.uniqueid_of(result.numbers[0])


async def test_agents_never_answer_then_resident_gives_up(asterisk: AsteriskHarness,
                                                          ami: RawAmi) -> None:
    result = await asyncio.to_thread(asterisk.noanswer_then_abandon, wait_s=17)

    events = [e.event for e in result.queue_log]
    assert events[0] == "ENTERQUEUE"
    assert events[-1] == "ABANDON"
    ring_no_answer = result.events("RINGNOANSWER")
    assert len(ring_no_answer) == 1
    assert 14000 <= int(ring_no_answer[0].data[0]) <= 16000  # member timeout 15 s, in ms
    assert "RINGCANCELED" in events  # the second agent was ringing when the resident left
    # the hold time is whole seconds of the wall clock at each end (time(NULL) in app_queue),
    # so a 17 s wait that starts late in a second and ends just past one reads 18 (CI22, at
    # a shifted clock, two suites side by side)
    assert int(result.events("ABANDON")[0].data[2]) in (15, 16, 17, 18)
    rna = await ami.wait_event(lambda e: e.get("Event") == "AgentRingNoAnswer", 5)
    assert 14000 <= int(rna["RingTime"]) <= 16000
    await ami.wait_event(lambda e: e.get("Event") == "QueueCallerAbandon", 5)


@pytest.mark.slow
def test_burst_of_twenty_callers_all_answered(asterisk: AsteriskHarness) -> None:
    t0 = time.monotonic()
    result = asterisk.burst(callers=20, agents=3)
    elapsed = time.monotonic() - t0

    assert all(call.ok for call in result.calls)
    for event in ("ENTERQUEUE", "CONNECT", "COMPLETEAGENT"):
        assert len(result.events(event)) == 20, event
    callids = {result.uniqueid_of(n) for n in result.numbers}
    assert len(callids) == 20
    assert {e.callid for e in result.events("CONNECT")} == callids
    assert {e.agent for e in result.events("CONNECT")} == {"Agent 1", "Agent 2", "Agent 3"}
    assert elapsed < 90


def test_a_resident_who_never_reached_the_dialplan_is_told_from_one_it_did_not_queue(
        asterisk: AsteriskHarness) -> None:
    """What a burst places again once (CallerLost: Asterisk kept no trace of the call), as
    against a call the dialplan had and did not queue (the PBX's doing: never placed again).
    An extension the dialplan does not have (council-inbound takes digits only) is refused
    before any channel exists."""
    nowhere = Caller(asterisk.next_number(), "LOST-1", hangup_after_s=5, dial="nowhere")
    with pytest.raises(CallerLost, match=f"resident {nowhere.number} never entered"):
        asterisk.run_calls([nowhere], agents=[], queued=True)
    # no X-Case-Ref and no key: hung up while the dialplan waits for a case reference
    # (CALLCENTRE_CASE_TIMEOUT, 4 s), before Queue(); a queue that does not exist instead
    # would warn in Asterisk's log, which test_no_asterisk_warnings_since_boot forbids
    unqueued = Caller(asterisk.next_number(), None, hangup_after_s=1, keys="")
    with pytest.raises(HarnessError, match=r"CDRs \[\{"):
        asterisk.run_calls([unqueued], agents=[], queued=True)


async def test_queue_max_wait_ends_with_timeout(asterisk: AsteriskHarness,
                                                 ami: RawAmi) -> None:
    asterisk.cli("dialplan set global CALLCENTRE_QUEUE_MAX_WAIT 2")
    asterisk.pause_members(True, "timeout-test")
    try:
        caller = Caller(asterisk.next_number(), "TMO-1", hangup_after_s=30)
        result = await asyncio.to_thread(asterisk.run_calls, [caller], agents=[])
    finally:
        asterisk.pause_members(False)
        asterisk.cli("dialplan set global CALLCENTRE_QUEUE_MAX_WAIT 600")

    assert result.calls[0].ok  # Asterisk hung up on the resident
    assert [e.event for e in result.queue_log] == ["ENTERQUEUE", "EXITWITHTIMEOUT"]
    queue_result = await ami.wait_event(lambda e: e.get("UserEvent") == "CallcentreQueueResult",
                                        5)
    assert (queue_result["CaseRef"], queue_result["QueueStatus"]) == ("TMO-1", "TIMEOUT")


@pytest.mark.parametrize(("caller", "expected"), [
    (Caller("07700900801", keys="4711#", hangup_after_s=30), "case:4711"),
    (Caller("07700900802", hangup_after_s=30), "case:NONE"),  # "#" alone skips
    (Caller("07700900803", "HOU 12;x<y>", hangup_after_s=30), "case:HOU12xy"),
    (Caller("07700900804", "A" * 50, hangup_after_s=30), "case:" + "A" * 40),
], ids=["keyed", "skipped", "filtered", "truncated"])
def test_case_reference_keyed_or_cleaned(asterisk: AsteriskHarness, caller: Caller,
                                         expected: str) -> None:
    result = asterisk.run_calls([caller], ring_s=0.5, talk_s=0.5)

    cdrs = asterisk.cdrs_since(result.mark)
    caller_leg = next(c for c in cdrs if c["uniqueid"] == result.uniqueid_of(caller.number))
    assert caller_leg["userfield"] == expected


async def test_callback_rings_agent_then_resident(asterisk: AsteriskHarness,
                                                  ami: RawAmi) -> None:
    mark = asterisk.mark()
    phones = asterisk.start_phones(0.5, 60, ["agent1"])
    phones.append(asterisk.start_callback_phone(0.5, 1.5))
    try:
        await asyncio.sleep(0.3)
        reply = await ami.action(
            "Originate", Channel="PJSIP/agent1", Context="callcentre-callback",
            Exten="07700900999", Priority="1", CallerID='"Council callback" <01632960000>',
            Timeout="10000", Async="true",
            Variable=["__CASE_REF=CB-1", "CALLBACK_ID=cb-7", "CALLBACK_DUE=2026-01-05T10:00Z",
                      "CALLBACK_CHECK=none"])  # the plain Dial: the phone keys nothing
        assert reply[0]["Response"] == "Success", reply
        origin = await ami.wait_event(lambda e: e.get("Event") == "OriginateResponse", 15)
        assert origin["Response"] == "Success"
        done = await ami.wait_event(lambda e: e.get("UserEvent") == "CallcentreCallbackResult",
                                    20)
        await asyncio.to_thread(asterisk.wait_idle)
    finally:
        asterisk.stop_sipps(phones)

    assert (done["CallbackId"], done["CaseRef"], done["DialStatus"]) == ("cb-7", "CB-1",
                                                                          "ANSWER")
    resident_leg = next(e for e in ami.events if e.get("Event") == "DialBegin"
                        and e.get("DestChannel", "").startswith("PJSIP/resident-cb"))
    assert resident_leg["DestExten"] == "07700900999"
    cdr = asterisk.cdrs_since(mark)[-1]
    assert cdr["userfield"] == "callback:cb-7:case:CB-1"
    assert (cdr["dst"], cdr["disposition"]) == ("07700900999", "ANSWERED")
    assert asterisk.queue_log_since(mark) == []  # not a queue call


def test_the_callback_checks_have_what_they_need(asterisk: AsteriskHarness) -> None:
    """app_amd is loaded (modules.conf, amd.conf), and the confirmation's prompt is the
    packaged phrase, also when the setting is emptied (Read() would wait in silence)."""
    assert "app_amd.so" in asterisk.cli("module show like app_amd")
    confirm = asterisk.cli("dialplan show s@callcentre-callback-confirm")
    assert "Set(CB_PROMPT=hello&vm-press&digits/1)" in confirm
    sounds = Path("/usr/share/asterisk/sounds/en")
    while (asterisk.root / sounds.relative_to("/")).is_symlink():  # en -> alternatives -> ...
        sounds = Path(os.readlink(asterisk.root / sounds.relative_to("/")))
    found = asterisk.root / sounds.relative_to("/")
    assert all((found / f"{name}.gsm").exists() for name in ("hello", "vm-press", "digits/1"))
    assert asterisk.cli("dialplan show globals").count(
        "CALLCENTRE_CALLBACK_CONFIRM_PROMPT=hello&vm-press&digits/1") == 1


# ---------------------------------------------------------------------------- AMI rights
async def test_least_rights_account_runs_what_callcentre_needs(asterisk: AsteriskHarness,
                                                                ami: RawAmi) -> None:
    assert (await ami.action("Ping"))[0]["Response"] == "Success"
    channels = await ami.action("CoreShowChannels")
    assert channels[-1]["Event"] == "CoreShowChannelsComplete"
    status = await ami.action("QueueStatus", Queue=asterisk.queue)
    assert [m.get("Event") for m in status[1:]] == (
        ["QueueParams"] + ["QueueMember"] * len(asterisk.agents) + ["QueueStatusComplete"])
    set_reply = await ami.action("Setvar", Variable="CALLCENTRE_PROBE", Value="42")
    assert set_reply[0]["Response"] == "Success"
    got = await ami.action("Getvar", Variable="CALLCENTRE_PROBE")
    assert got[0]["Value"] == "42"
    hangup = await ami.action("Hangup", Channel="PJSIP/nobody-00000000")
    assert hangup[0]["Message"] == "No such channel"  # allowed, just nothing to hang up

    for action, fields in [("Command", {"Command": "core show uptime"}),
                           ("QueuePause", {"Interface": "PJSIP/agent1", "Paused": "true"}),
                           ("Reload", {}), ("GetConfig", {"Filename": "manager.conf"})]:
        reply = await ami.action(action, **fields)
        assert reply[0]["Message"] == "Permission denied", action


async def test_hangup_action_ends_a_queued_call(asterisk: AsteriskHarness,
                                                ami: RawAmi) -> None:
    asterisk.pause_members(True, "hangup-test")
    try:
        caller = Caller(asterisk.next_number(), "HUP-1", hangup_after_s=30)
        run = asyncio.create_task(asyncio.to_thread(asterisk.run_calls, [caller], agents=[]))
        join = await ami.wait_event(lambda e: e.get("Event") == "QueueCallerJoin"
                                    and e.get("CallerIDNum") == caller.number, 10)
        assert (await ami.action("Getvar", Channel=join["Channel"],
                                 Variable="CASE_REF"))[0]["Value"] == "HUP-1"
        reply = await ami.action("Hangup", Channel=join["Channel"])
        assert reply[0]["Response"] == "Success"
        result = await run
    finally:
        asterisk.pause_members(False)
    assert result.calls[0].ok  # the resident's phone got a BYE, as from a real hang-up
    assert [e.event for e in result.queue_log] == ["ENTERQUEUE", "ABANDON"]


async def test_each_rights_class_is_needed(asterisk: AsteriskHarness, ami: RawAmi) -> None:
    """The experiment behind manager.conf: drop any one read class and callcentre loses
    events it needs; drop any one write class and an action it sends is refused."""
    without: dict[str, RawAmi] = {}
    for cls in READ_CLASSES:
        rest = ",".join(c for c in READ_CLASSES if c != cls)
        secret = asterisk.add_ami_user(f"no-{cls}", read=rest, write="call,originate,reporting")
        without[cls] = await RawAmi.login(asterisk.ami_host, asterisk.ami_port, f"no-{cls}",
                                          secret)
    for cls, witness in WRITE_WITNESS.items():
        rest = ",".join(c for c in WRITE_WITNESS if c != cls)
        secret = asterisk.add_ami_user(f"no-w-{cls}", read="", write=rest)
        session = await RawAmi.login(asterisk.ami_host, asterisk.ami_port, f"no-w-{cls}",
                                     secret)
        reply = await session.action(witness, Channel="PJSIP/agent1",
                                     Variable="X", Exten="1", Context="callcentre-callback")
        assert reply[0]["Message"] == "Permission denied", cls
        await session.close()
    try:
        # Each add_ami_user reloaded the manager; once (of six runs on a loaded machine) the
        # own account's session then saw none of the call's events. Let the reloads settle.
        await asyncio.sleep(1.0)
        await asyncio.to_thread(asterisk.answered, ring_s=0.5, talk_s=0.5, case_ref="RIGHTS-1")
        change_members(asterisk)
        needed = set().union(*NEEDED_EVENTS.values())
        for _ in range(100):  # the last events may still be on their way on a busy machine
            if needed <= ami.names():
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)  # and what the other sessions would see has come too
        assert needed <= ami.names()
        for cls, session in without.items():
            assert not NEEDED_EVENTS[cls] & session.names(), cls
            assert needed - NEEDED_EVENTS[cls] <= session.names(), cls
        assert "Newexten" in without["call"].names()  # only callcentre's account filters it
    finally:
        for session in without.values():
            await session.close()


def change_members(asterisk: AsteriskHarness) -> None:
    """Add, pause, unpause and remove a member (as a supervisor would, from the CLI)."""
    asterisk.cli(f"queue add member PJSIP/extra to {asterisk.queue}")
    asterisk.cli(f"queue pause member PJSIP/extra queue {asterisk.queue} reason probe")
    asterisk.cli(f"queue unpause member PJSIP/extra queue {asterisk.queue}")
    asterisk.cli(f"queue remove member PJSIP/extra from {asterisk.queue}")


# ---------------------------------------------------------------------------- the harness
def test_asterisk_listens_on_loopback_only(asterisk: AsteriskHarness) -> None:
    pid = asterisk.pid
    assert pid is not None
    links = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
    inodes = {link[8:-1] for link in links if link.startswith("socket:[")}
    bound = []  # (table, address, port) of Asterisk's TCP listeners and UDP sockets
    for table in ("tcp", "udp", "tcp6", "udp6"):
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[9] in inodes and (table.startswith("udp") or fields[3] == "0A"):
                address, port = fields[1].split(":")
                bound.append((table, address, int(port, 16)))
    ours = {asterisk.ami_port, asterisk.sip_port}
    assert ours <= {port for _, _, port in bound}
    low, _high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    for table, address, port in bound:
        if address == "0100007F":  # 127.0.0.1
            continue
        # PJSIP's DNS resolver keeps two client sockets (IPv4 and IPv6) bound to the wildcard
        # address on an ephemeral port for DNS replies; nothing else may leave loopback.
        assert table.startswith("udp") and port >= low and port not in ours, (table, address)


def test_asterisk_booted_without_warnings(asterisk: AsteriskHarness) -> None:
    boot = asterisk.session_dir / "asterisk.out"
    problems = [ln for ln in boot.read_text().splitlines() if "WARNING[" in ln or "ERROR[" in ln]
    assert problems == []


def test_no_asterisk_warnings_since_boot(asterisk: AsteriskHarness) -> None:
    assert asterisk.problems_since(asterisk.boot_mark) == []


def test_second_harness_runs_beside_and_stops_clean(asterisk: AsteriskHarness) -> None:
    other = AsteriskHarness(agents=1, keep=False).start()
    pid, session = other.pid, other.session_dir
    try:
        assert other.ami_port != asterisk.ami_port
        assert other.sip_port != asterisk.sip_port
        result = other.answered(ring_s=0.5, talk_s=0.5, case_ref="TWO-1")
        assert [e.event for e in result.queue_log] == ["ENTERQUEUE", "CONNECT", "COMPLETEAGENT"]
    finally:
        other.stop()
    assert pid is not None
    assert not Path(f"/proc/{pid}").exists()
    assert not session.exists()
    assert not os.path.ismount(other.root / "proc")
    assert asterisk.active_channels() == 0  # the session's own Asterisk is untouched
