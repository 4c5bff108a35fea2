"""AmiClient against FakeAmiServer over real local TCP sockets."""

from __future__ import annotations

import asyncio
import gc
import logging
import random
import socket
import time
import warnings
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from callcentre.ami.client import AmiClient, AmiSettings, LinkState
from callcentre.ami.errors import (
    AmiActionFailed,
    AmiActionTimeout,
    AmiAuthenticationError,
    AmiNotConnected,
)
from callcentre.ami.fakeserver import FakeAmiServer
from callcentre.ami.protocol import FrameParser, Message


@pytest.fixture
async def server() -> AsyncIterator[FakeAmiServer]:
    fake = FakeAmiServer(username="callcentre", secret="s3cret")
    await fake.start()
    yield fake
    await fake.stop()


def make_settings(port: int, **overrides: Any) -> AmiSettings:
    values: dict[str, Any] = {
        "connect_timeout": 1.0,
        "ping_interval": 30.0,
        "ping_timeout": 1.0,
        "action_timeout": 1.0,
        "reconnect_initial": 0.02,
        "reconnect_max": 0.1,
    }
    values.update(overrides)
    return AmiSettings("127.0.0.1", port, "callcentre", values.pop("secret", "s3cret"), **values)


class Recorder:
    """The handler and on_state callbacks, recording what they get."""

    def __init__(self) -> None:
        self.events: list[Message] = []
        self.states: list[tuple[LinkState, str]] = []

    def handler(self, message: Message) -> None:
        self.events.append(message)

    def on_state(self, state: LinkState, reason: str) -> None:
        self.states.append((state, reason))

    def names(self) -> list[str | None]:
        return [m.event for m in self.events if m.event != "FullyBooted"]


@asynccontextmanager
async def running(client: AmiClient) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(client.run())
    try:
        yield task
    finally:
        await asyncio.wait_for(client.close(), 3)
        await asyncio.wait_for(task, 3)


async def until(predicate: Callable[[], bool], within: float = 2.0) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def client_for(port: int, recorder: Recorder, **overrides: Any) -> AmiClient:
    return AmiClient(
        make_settings(port, **overrides),
        recorder.handler,
        on_state=recorder.on_state,
        rng=random.Random(7),
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_login_and_logoff(server: FakeAmiServer) -> None:
    rec = Recorder()
    client = client_for(server.port, rec)
    async with running(client):
        await client.wait_connected(2)
        assert client.state is LinkState.CONNECTED
        login = server.received[0]
        assert login.items() == [
            ("Action", "Login"), ("ActionID", "cc-1"), ("Username", "callcentre"),
            ("Secret", "s3cret"), ("Events", "on"),
        ]
        await until(lambda: len(rec.events) == 1)
        assert rec.events[0].event == "FullyBooted"
    assert [s for s, _ in rec.states] == [
        LinkState.CONNECTING, LinkState.CONNECTED, LinkState.DISCONNECTED
    ]
    assert "Asterisk Call Manager/11.0.0" in rec.states[1][1]
    assert server.received[-1].get("Action") == "Logoff"
    assert client.state is LinkState.DISCONNECTED
    stats = client.stats
    assert (stats.connects, stats.disconnects, stats.events) == (1, 1, 1)
    assert stats.parser.frames == 3  # login response, FullyBooted, Goodbye


async def test_bad_credentials_then_fixed(server: FakeAmiServer, caplog: Any) -> None:
    rec = Recorder()
    client = client_for(server.port, rec, secret="wrong")
    async with running(client):
        with pytest.raises(AmiAuthenticationError, match="Authentication failed") as info:
            await client.wait_connected(2)
        assert isinstance(info.value, PermissionError)
        assert client.state is LinkState.AUTH_FAILED
        assert (LinkState.AUTH_FAILED, "Authentication failed") in rec.states
        with pytest.raises(AmiNotConnected):
            await client.send_action("Ping")
        await until(lambda: client.stats.auth_failures >= 2)  # keeps retrying
        server.secret = "wrong"  # the PBX admin fixes manager.conf
        await until(lambda: client.state is LinkState.CONNECTED)
    refused = [
        r for r in caplog.records if r.name == "callcentre.ami" and r.levelno == logging.ERROR
    ]
    assert refused
    assert "login refused" in refused[0].getMessage()


async def test_action_response_and_deterministic_ids(server: FakeAmiServer) -> None:
    server.on_action("QueuePause", fields={"Message": "Interface paused successfully"})
    client = client_for(server.port, Recorder())
    async with running(client):
        await client.wait_connected(2)
        result = await client.send_action(
            "QueuePause", {"Queue": "council", "Interface": "PJSIP/agent1", "Paused": "true"}
        )
        assert result.response["Message"] == "Interface paused successfully"
        assert result.response.action_id == "cc-2"
        assert result.events == ()
        pong = await client.send_action("Ping")
        assert pong.response["Ping"] == "Pong"
        assert pong.response.action_id == "cc-3"
        await client.send_action(
            "QueuePause", {"Variable": ["__CASE_REF=CB-1001", "CALLBACK_ID=cb-42"]}
        )
    sent = server.received[1]
    assert sent.items() == [
        ("Action", "QueuePause"), ("ActionID", "cc-2"), ("Queue", "council"),
        ("Interface", "PJSIP/agent1"), ("Paused", "true"),
    ]
    assert server.received[3].get_all("Variable") == ["__CASE_REF=CB-1001", "CALLBACK_ID=cb-42"]


async def test_event_list_is_collected_not_dispatched(server: FakeAmiServer) -> None:
    channels = [
        {"Event": "CoreShowChannel", "Channel": "PJSIP/resident-00000000", "Uniqueid": "1.0"},
        {"Event": "CoreShowChannel", "Channel": "PJSIP/agent1-00000001", "Uniqueid": "1.1"},
    ]
    server.on_action("CoreShowChannels", events=channels)
    server.on_action("QueueStatus", events=[], complete_event="QueueStatusComplete")
    rec = Recorder()
    client = client_for(server.port, rec)
    async with running(client):
        await client.wait_connected(2)
        result = await client.send_action("CoreShowChannels")
        assert result.response.get("EventList") == "start"
        assert [e["Channel"] for e in result.events] == [c["Channel"] for c in channels]
        assert all(e.action_id == "cc-2" for e in result.events)
        assert result.complete is not None
        assert result.complete.event == "CoreShowChannelsComplete"
        assert result.complete["ListItems"] == "2"
        empty = await client.send_action("QueueStatus", {"Queue": "council"})
        assert empty.events == ()
        await server.push(b"Event: Hangup\r\nUniqueid: 1.0\r\n\r\n")
        await until(lambda: rec.names() == ["Hangup"])
    assert client.stats.events == 2  # FullyBooted and Hangup only


async def test_error_response_raises_action_failed(server: FakeAmiServer) -> None:
    server.on_action("Originate", error="Extension does not exist.")
    client = client_for(server.port, Recorder())
    async with running(client):
        await client.wait_connected(2)
        with pytest.raises(AmiActionFailed, match="Extension does not exist") as info:
            await client.send_action("Originate", {"Channel": "PJSIP/agent9"})
        assert isinstance(info.value, RuntimeError)
        assert info.value.response["Response"] == "Error"
        assert info.value.response.action_id == "cc-2"
        assert client.pending_actions == 0


async def test_timeout_cleans_up_and_late_list_is_dropped(server: FakeAmiServer) -> None:
    server.on_action("QueueStatus", silent=True)
    rec = Recorder()
    client = client_for(server.port, rec)
    async with running(client):
        await client.wait_connected(2)
        started = time.monotonic()
        with pytest.raises(AmiActionTimeout) as info:
            await client.send_action("QueueStatus", timeout=0.2)
        assert 0.15 < time.monotonic() - started < 1.0
        assert isinstance(info.value, TimeoutError)
        assert info.value.action_id == "cc-2"
        assert client.pending_actions == 0
        await server.push(
            b"Response: Success\r\nActionID: cc-2\r\nEventList: start\r\n\r\n"
            b"Event: QueueMember\r\nActionID: cc-2\r\nName: Agent One\r\n\r\n"
            b"Event: QueueStatusComplete\r\nActionID: cc-2\r\nEventList: Complete\r\n\r\n"
            b"Event: Hangup\r\n\r\n"
        )
        await until(lambda: rec.names() == ["Hangup"])
        assert client.state is LinkState.CONNECTED


async def test_handler_exception_is_isolated_and_counted(
    server: FakeAmiServer, caplog: Any
) -> None:
    seen: list[str | None] = []

    def handler(message: Message) -> None:
        seen.append(message.event)
        if message.event == "Bad":
            raise RuntimeError("handler bug")

    client = AmiClient(make_settings(server.port), handler)
    async with running(client):
        await client.wait_connected(2)
        await server.push(b"Event: Bad\r\n\r\nEvent: Good\r\n\r\n")
        await until(lambda: "Good" in seen)
        assert client.stats.handler_errors == 1
        assert client.state is LinkState.CONNECTED
        assert (await client.send_action("Ping")).response["Ping"] == "Pong"
    assert seen == ["FullyBooted", "Bad", "Good"]
    assert any(r.name == "callcentre.ami" and r.exc_info for r in caplog.records)


async def test_events_in_order_across_split_reads(server: FakeAmiServer) -> None:
    frames = b"".join(
        f"Event: Newexten\r\nSeq: {n}\r\nAppData: Siân {n}\r\n\r\n".encode() for n in range(300)
    )
    rec = Recorder()
    client = client_for(server.port, rec)
    async with running(client):
        await client.wait_connected(2)
        await server.push(frames, chunk_size=7)
        await until(lambda: len(rec.names()) == 300)
    assert [m["Seq"] for m in rec.events[1:]] == [str(n) for n in range(300)]
    assert rec.events[-1]["AppData"] == "Siân 299"
    assert rec.events[1:] == FrameParser().feed(frames)


async def test_drop_mid_stream_reconnects_and_keeps_delivering(server: FakeAmiServer) -> None:
    server.on_action("Hangup", silent=True)
    rec = Recorder()
    client = client_for(server.port, rec)
    async with running(client):
        await client.wait_connected(2)
        await server.push(b"Event: Before\r\n\r\nEvent: Partial\r\nX: 1\r\n")
        await until(lambda: rec.names() == ["Before"])
        waiting = asyncio.create_task(client.send_action("Hangup", timeout=5))
        await server.wait_action("Hangup")
        await server.drop()
        with pytest.raises(AmiNotConnected):
            await asyncio.wait_for(waiting, 1)
        await until(lambda: client.stats.connects == 2)
        await server.wait_logged_in()
        await server.push(b"Event: After\r\n\r\n")
        await until(lambda: rec.names() == ["Before", "After"])
        assert "X" not in rec.events[-1]  # the partial frame died with the old link
    stats = client.stats
    assert stats.disconnects >= 1
    assert stats.reconnect_attempts >= 1
    assert [s for s, _ in rec.states[:4]] == [
        LinkState.CONNECTING, LinkState.CONNECTED, LinkState.DISCONNECTED, LinkState.CONNECTING
    ]


async def test_silent_server_is_detected_by_the_ping_watchdog(server: FakeAmiServer) -> None:
    rec = Recorder()
    client = client_for(server.port, rec, ping_interval=0.2, ping_timeout=0.2, action_timeout=0.3)
    async with running(client):
        await client.wait_connected(2)
        assert (await client.send_action("Ping")).response["Ping"] == "Pong"
        server.silent = True
        started = time.monotonic()
        await until(lambda: client.state is not LinkState.CONNECTED)
        assert time.monotonic() - started <= 0.2 + 0.2 + 0.3  # interval + timeout + slack
        assert client.stats.ping_timeouts == 1
        down = [r for s, r in rec.states if s is LinkState.DISCONNECTED]
        assert "Ping" in down[0]
        server.silent = False
        await until(lambda: client.state is LinkState.CONNECTED)
        await asyncio.sleep(0.5)  # pings answered again: the link stays up
        assert client.state is LinkState.CONNECTED
        assert client.stats.ping_timeouts == 1


async def test_a_busy_link_is_not_dropped_for_a_late_pong(server: FakeAmiServer) -> None:
    """Events keep coming but the Pong is late (behind a burst): alive, not dead."""
    client = client_for(server.port, Recorder(), ping_interval=0.1, ping_timeout=0.2,
                        action_timeout=0.3)
    async with running(client):
        await client.wait_connected(2)
        server.on_action("Ping", silent=True)  # the Pong never comes in time
        for i in range(15):
            await server.push(f"Event: TestEvent\r\nN: {i}\r\n\r\n".encode())
            await asyncio.sleep(0.05)
        assert client.state is LinkState.CONNECTED and client.stats.disconnects == 0
        assert client.stats.pings_late >= 1 and client.stats.ping_timeouts == 0
        await until(lambda: client.state is not LinkState.CONNECTED)  # silence: dropped
        assert client.stats.ping_timeouts == 1


async def test_back_off_is_capped() -> None:
    port = free_port()  # nothing listens: every attempt is refused at once
    rec = Recorder()
    client = client_for(port, rec, reconnect_initial=0.01, reconnect_max=0.05)
    async with running(client):
        await asyncio.sleep(1.0)
        attempts = client.stats.reconnect_attempts
    # uncapped doubling (0.01, 0.02, 0.04 ... 0.64) fits about 7 attempts into a second;
    # capped at 0.05 s (jitter 0.5-1.0) there are at least 20
    assert attempts >= 15
    assert client.stats.connects == 0
    assert {s for s, _ in rec.states} == {LinkState.CONNECTING, LinkState.DISCONNECTED}


async def test_close_during_long_back_off_is_prompt() -> None:
    rec = Recorder()
    client = client_for(free_port(), rec, reconnect_initial=20, reconnect_max=30)
    task = asyncio.create_task(client.run())
    failed_once = [LinkState.CONNECTING, LinkState.DISCONNECTED]
    await until(lambda: [s for s, _ in rec.states] == failed_once)
    await asyncio.sleep(0.05)
    started = time.monotonic()
    await client.close()
    await asyncio.wait_for(task, 1)
    assert time.monotonic() - started < 0.5


async def test_not_connected_and_wait_timeout(server: FakeAmiServer) -> None:
    client = client_for(server.port, Recorder())
    with pytest.raises(AmiNotConnected):
        await client.send_action("Ping")
    with pytest.raises(TimeoutError):
        await client.wait_connected(0.05)  # run() was never started
    await client.close()
    with pytest.raises(AmiNotConnected):
        await client.wait_connected(0.05)


async def test_cancelling_run_drops_the_link(server: FakeAmiServer) -> None:
    rec = Recorder()
    client = client_for(server.port, rec)
    task = asyncio.create_task(client.run())
    await client.wait_connected(2)
    waiting = asyncio.create_task(client.send_action("Ping", timeout=5))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert client.state is LinkState.DISCONNECTED
    result = await asyncio.gather(waiting, return_exceptions=True)
    assert isinstance(result[0], AmiNotConnected)
    await until(lambda: server.logged_in == 0)


async def test_header_injection_is_refused_before_sending(server: FakeAmiServer) -> None:
    client = client_for(server.port, Recorder())
    async with running(client):
        await client.wait_connected(2)
        with pytest.raises(ValueError):
            await client.send_action("Originate", {"Channel": "PJSIP/x\r\nAction: Hangup"})
        assert client.pending_actions == 0
        await client.send_action("Ping")
    assert [m.get("Action") for m in server.received] == ["Login", "Ping", "Logoff"]


def test_settings_refuse_line_breaks_in_credentials() -> None:
    with pytest.raises(ValueError):
        AmiSettings("127.0.0.1", 5038, "callcentre", "pw\r\nAction: Originate")


async def test_one_warning_when_the_link_goes_and_one_when_it_is_back(caplog: Any) -> None:
    """Not one per retry (a PBX down for an hour wrote ~120), and nothing alarming when
    callcentre itself closes the link."""
    caplog.set_level(logging.DEBUG, logger="callcentre")
    with socket.socket() as s:  # a port nobody listens on yet
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    fake = FakeAmiServer(username="callcentre", secret="s3cret", port=port)
    client = client_for(port, Recorder())
    async with running(client):
        await until(lambda: client.stats.reconnect_attempts >= 5)
        await fake.start()
        try:
            await until(lambda: client.state is LinkState.CONNECTED)
            await client.close()
        finally:
            await fake.stop()
    ami = [r for r in caplog.records if r.name == "callcentre.ami"]
    warnings = [r.getMessage() for r in ami if r.levelno >= logging.WARNING]
    assert len(warnings) == 2, warnings
    assert warnings[0].startswith(f"no AMI link to 127.0.0.1:{port}")
    assert "back after" in warnings[1] and "failed attempts" in warnings[1]
    assert any("still down" in r.getMessage() for r in ami if r.levelno == logging.DEBUG)
    assert any("closed: closed by callcentre" in r.getMessage() for r in ami
               if r.levelno == logging.INFO)


async def test_closed_before_its_connection_attempt_starts_leaves_nothing_unawaited() -> None:
    """close() in the moment between the connect task's creation and its first step: the
    attempt is dropped whole (once, at a stop, a coroutine was left never awaited)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nobody listens: every attempt fails; none must start
    client = AmiClient(make_settings(port), lambda m: None)
    running = asyncio.create_task(client.run())
    while client._connect_task is None:  # noqa: ASYNC110 - the step the test is about
        await asyncio.sleep(0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        await client.close()
        await asyncio.wait_for(running, 5)
        gc.collect()
    assert [str(w.message) for w in caught if w.category is RuntimeWarning] == []
