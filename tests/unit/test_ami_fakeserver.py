"""FakeAmiServer spoken to over a raw socket, and the trace rewriting for replays."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest

from callcentre.ami.client import AmiClient, AmiSettings
from callcentre.ami.fakeserver import SESSION_EVENTS, FakeAmiServer, rewrite_trace
from callcentre.ami.protocol import FrameParser, Message, encode_action

FIXTURES = Path(__file__).parent.parent / "fixtures" / "ami"
ID_KEYS = ("Uniqueid", "Linkedid", "DestUniqueid", "DestLinkedid", "UniqueID", "LinkedID")


class RawClient:
    """A bare AMI connection: send actions, read frames."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.parser = FrameParser()
        self.backlog: list[Message] = []

    async def send(self, action: str, action_id: str, **fields: str) -> None:
        self.writer.write(encode_action(action, action_id, fields))
        await self.writer.drain()

    async def next(self) -> Message:
        while not self.backlog:
            data = await asyncio.wait_for(self.reader.read(65536), 2)
            if not data:
                raise EOFError
            self.backlog.extend(self.parser.feed(data))
        return self.backlog.pop(0)


@pytest.fixture
async def server() -> AsyncIterator[FakeAmiServer]:
    fake = FakeAmiServer(username="u", secret="p")
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def raw(server: FakeAmiServer) -> AsyncIterator[RawClient]:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    yield RawClient(reader, writer)
    writer.close()


async def login(raw: RawClient) -> None:
    await raw.send("Login", "t-1", Username="u", Secret="p", Events="on")
    assert (await raw.next())["Message"] == "Authentication accepted"
    assert (await raw.next()).event == "FullyBooted"


async def test_banner_login_ping_logoff(server: FakeAmiServer, raw: RawClient) -> None:
    await raw.send("Ping", "t-0")
    assert (await raw.next())["Message"] == "Permission denied"
    assert raw.parser.banner == "Asterisk Call Manager/11.0.0"
    await login(raw)
    await raw.send("Ping", "t-2")
    pong = await raw.next()
    assert (pong.response, pong.action_id, pong["Ping"]) == ("Success", "t-2", "Pong")
    assert pong.timestamp is not None
    await raw.send("NoSuchThing", "t-3")
    assert (await raw.next())["Message"] == "Invalid/unknown command"
    await raw.send("Logoff", "t-4")
    assert (await raw.next()).response == "Goodbye"
    with pytest.raises(EOFError):
        await raw.next()
    actions = [m["Action"] for m in server.received]
    assert actions == ["Ping", "Login", "Ping", "NoSuchThing", "Logoff"]


async def test_failed_login_closes_the_session(server: FakeAmiServer, raw: RawClient) -> None:
    await raw.send("Login", "t-1", Username="u", Secret="nope")
    reply = await raw.next()
    assert (reply.response, reply["Message"]) == ("Error", "Authentication failed")
    with pytest.raises(EOFError):
        await raw.next()
    assert server.logged_in == 0


async def test_event_list_reply(server: FakeAmiServer, raw: RawClient) -> None:
    server.on_action("QueueStatus", events=[[("Event", "QueueParams"), ("Queue", "council")]],
                     complete_event="QueueStatusComplete")
    await login(raw)
    await raw.send("QueueStatus", "t-9")
    start, params, complete = [await raw.next() for _ in range(3)]
    assert start.items() == [("Response", "Success"), ("ActionID", "t-9"),
                             ("EventList", "start"), ("Message", "QueueStatus will follow")]
    assert params.items() == [("Event", "QueueParams"), ("ActionID", "t-9"), ("Queue", "council")]
    assert complete.items() == [("Event", "QueueStatusComplete"), ("ActionID", "t-9"),
                                ("EventList", "Complete"), ("ListItems", "1")]


async def test_silent_mode_reads_but_does_not_answer(
    server: FakeAmiServer, raw: RawClient
) -> None:
    await login(raw)
    server.silent = True
    await raw.send("Ping", "t-2")
    await server.wait_action("Ping")
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(raw.next(), 0.2)


async def test_push_in_chunks_and_drop(server: FakeAmiServer, raw: RawClient) -> None:
    await login(raw)
    await server.push("Event: A\r\nName: Siân\r\n\r\n".encode(), chunk_size=3)
    assert (await raw.next())["Name"] == "Siân"
    await server.drop()
    with pytest.raises((EOFError, ConnectionError)):
        await raw.next()


# -- rewrite_trace ----------------------------------------------------------------


def trace(name: str) -> bytes:
    return (FIXTURES / f"{name}.ami").read_bytes()


def parse(frames: list[bytes]) -> list[Message]:
    return FrameParser().feed(b"".join(frames))


def test_rewrite_keeps_only_call_events() -> None:
    original = FrameParser().feed(trace("answered"))
    kept = parse([f.data for f in rewrite_trace(trace("answered"))])
    assert all(m.event is not None for m in kept)
    assert not {m.event for m in kept} & SESSION_EVENTS
    assert not {"QueueParams", "QueueMember", "QueueStatusComplete"} & {m.event for m in kept}
    expected = [
        m for m in original
        if m.event and m.event not in SESSION_EVENTS and m.action_id is None
    ]
    assert kept == expected  # untouched without rebase_to / id_offset
    assert len(kept) == 180 - 2 - 5
    callback = parse([f.data for f in rewrite_trace(trace("callback"))])
    assert "OriginateResponse" in {m.event for m in callback}  # a call event with an ActionID


def test_rebase_moves_every_time_by_the_same_amount() -> None:
    frames = rewrite_trace(trace("answered"), rebase_to=1_900_000_000.0, id_offset=500)
    original = [
        m for m in FrameParser().feed(trace("answered"))
        if m.event and m.event not in SESSION_EVENTS and m.action_id is None
    ]
    moved = parse([f.data for f in frames])
    assert moved[0].timestamp == pytest.approx(1_900_000_000.0)
    shift = 1_900_000_000.0 - original[0].timestamp  # type: ignore[operator]
    for before, after, frame in zip(original, moved, frames, strict=True):
        assert after.timestamp == pytest.approx(before.timestamp + shift, abs=1e-6)  # type: ignore[operator]
        assert frame.offset == pytest.approx(before.timestamp - original[0].timestamp)  # type: ignore[operator]
    (cdr_before,) = [m for m in original if m.event == "Cdr"]
    (cdr_after,) = [m for m in moved if m.event == "Cdr"]
    for key in ("StartTime", "EndTime"):
        step = datetime.fromisoformat(cdr_after[key]) - datetime.fromisoformat(cdr_before[key])
        assert abs(step.total_seconds() - shift) <= 1
    assert frames[-1].offset == pytest.approx(
        original[-1].timestamp - original[0].timestamp  # type: ignore[operator]
    )


def ids(messages: list[Message]) -> set[str]:
    return {v for m in messages for k in ID_KEYS for v in m.get_all(k) if v}


@pytest.mark.parametrize("name", ["answered", "abandoned", "callback"])
def test_ids_are_renumbered_consistently(name: str) -> None:
    original = FrameParser().feed(trace(name))
    first = parse([f.data for f in rewrite_trace(trace(name), rebase_to=2e9, id_offset=100)])
    second = parse([f.data for f in rewrite_trace(trace(name), rebase_to=2e9, id_offset=200)])
    assert ids(first) and ids(second)
    assert not ids(first) & ids(original)
    assert not ids(first) & ids(second)
    bridges = {m["BridgeUniqueid"] for m in first if "BridgeUniqueid" in m}
    assert not bridges & {m["BridgeUniqueid"] for m in second if "BridgeUniqueid" in m}
    # relations survive: a caller leg's Uniqueid is its Linkedid, the agent leg shares it
    for before, after in zip(
        [m for m in original if m.event == "AgentConnect"],
        [m for m in first if m.event == "AgentConnect"],
        strict=True,
    ):
        assert (after["Uniqueid"] == after["Linkedid"]) == (
            before["Uniqueid"] == before["Linkedid"]
        )
        assert after["DestLinkedid"] == after["Linkedid"]
    epoch, seq = next(iter(ids(first))).split(".")
    assert 1_999_999_990 < int(epoch) < 2_000_000_060  # within the recorded call
    assert int(seq) >= 100


async def test_replay_is_paced_and_reaches_the_client(server: FakeAmiServer) -> None:
    received: list[Message] = []
    settings = AmiSettings("127.0.0.1", server.port, "u", "p", ping_interval=30)
    client = AmiClient(settings, received.append)
    task = asyncio.create_task(client.run())
    try:
        await client.wait_connected(2)
        raw_trace = trace("callback")
        frames = rewrite_trace(raw_trace)
        speed = frames[-1].offset / 0.3  # the ~12 s call in ~0.3 s
        started = time.monotonic()
        count = await server.replay_trace(
            raw_trace, speed=speed, rebase_to=time.time(), id_offset=1000
        )
        assert time.monotonic() - started >= 0.25
        assert count == len(frames)
        await server.replay_trace(raw_trace, rebase_to=time.time(), id_offset=2000)
        deadline = time.monotonic() + 2
        while len(received) < 1 + 2 * count:
            assert time.monotonic() < deadline, f"only {len(received)} events arrived"
            await asyncio.sleep(0.01)
    finally:
        await client.close()
        await task
    calls = received[1:]  # after FullyBooted
    assert len(calls) == 2 * count
    assert [m.event for m in calls[:count]] == [m.event for m in calls[count:]]
    assert not ids(calls[:count]) & ids(calls[count:])
    assert abs(calls[0].timestamp - time.time()) < 5  # type: ignore[operator]
